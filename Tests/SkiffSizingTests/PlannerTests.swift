import Foundation
import SkiffModels
import SkiffSizing
import Testing

@Suite struct PlannerTests {
    let catalog = HardwareCatalog.builtIn

    func request(_ model: String, gpu: String, precision: WeightPrecision? = .bf16, context: Int = 8192) throws -> CapacityPlanner.Request {
        CapacityPlanner.Request(model: try fixtureModel(model), hardware: .whole(try catalog.gpu(named: gpu)), catalog: catalog,
                                weightPrecision: precision, contextLength: context)
    }

    @Test func unknownGPUListsTheKnownOnes() throws {
        let error = try #require(throws: SizingError.self) { try catalog.gpu(named: "rtx9090") }
        #expect(error.message.contains("a10g, l4, l40s, a100-40gb, a100-80gb, h100, h200"))
        #expect(try catalog.gpu(named: "H100").name == "h100")
        #expect(try catalog.gpu(named: "A100-80GB").memoryBytes == 80 << 30)
    }

    @Test func llama8BOnOneH100() throws {
        let plan = try CapacityPlanner.plan(request("llama-3.1-8b", gpu: "h100"))
        #expect(plan.gpusPerReplica == 1)
        #expect(plan.weightsBytes == 16_060_522_496)
        // 1 GiB of CUDA context and graphs plus 2048 step tokens × 4096 × 32 bytes of activations.
        #expect(plan.runtimeOverheadBytes == (1 << 30) + 2048 * 4096 * 32)
        let usable = Int(Double(85_520_809_984) * 0.9)
        #expect(plan.cacheBudgetBytes == usable - 16_060_522_496 - plan.runtimeOverheadBytes - (512 << 20))
        #expect(plan.bytesPerRequestAtContext == 1 << 30)
        #expect(plan.maxConcurrency == 54)
        // The same model fits a 3g.40gb MIG slice with room for requests.
        var needy = try request("llama-3.1-8b", gpu: "h100")
        needy.neededConcurrency = 8
        #expect(try CapacityPlanner.plan(needy).migSuggestion?.profile == "3g.40gb")
    }

    @Test func seventyBillionSpreadsOverANodesGPUs() throws {
        let h100 = try CapacityPlanner.plan(request("llama-3.1-70b", gpu: "h100"))
        #expect(h100.tensorParallel == 2)
        #expect(h100.pipelineStages == 1)
        let l4 = try CapacityPlanner.plan(request("llama-3.1-70b", gpu: "l4"))
        #expect(l4.tensorParallel == 8)
        // Each of the 8 GPUs holds one of the 8 KV heads: 1/8 of a request.
        #expect(l4.bytesPerRequestAtContext == 8192 * 2 * 80 * 8 * 128 * 2 / 8)
        #expect(l4.weightsBytesPerGpu == (l4.weightsBytes + 7) / 8)
    }

    @Test func pipelineStagesWhenOneNodeIsNotEnough() throws {
        let plan = try CapacityPlanner.plan(request("llama-3.1-405b", gpu: "h100"))
        #expect(plan.tensorParallel == 8)
        #expect(plan.pipelineStages == 2)
        #expect(plan.gpusPerReplica == 16)
    }

    @Test func aModelThatDoesNotFitNamesTheSmallestOption() throws {
        // 141 GB of bf16 weights cannot go in a 40 GB MIG slice; two H100s (the smaller 80 GB part) hold them.
        var r = try request("llama-3.1-70b", gpu: "h100")
        r.hardware = try .mig(catalog.gpu(named: "h100"), profile: "3g.40gb")
        let error = try #require(throws: SizingError.self) { try CapacityPlanner.plan(r) }
        #expect(error.code == .doesNotFit)
        #expect(error.message.contains("the smallest catalog option that holds it is h100 × 2"))
        // Over whole GPUs, even 405 B fits somewhere: pipeline stages of 8 A10Gs each.
        #expect(try CapacityPlanner.plan(request("llama-3.1-405b", gpu: "a10g")).tensorParallel == 8)
    }

    @Test func smallModelSuggestsTheSmallestMIGSlice() throws {
        let plan = try CapacityPlanner.plan(request("llama-3.1-8b", gpu: "h100", precision: .int4))
        #expect(plan.migSuggestion?.profile == "1g.10gb")
        #expect(plan.migSuggestion?.replicasPerGpu == 7)
        let slice = try HardwareTarget.mig(catalog.gpu(named: "a100-80gb"), profile: "3g.40gb")
        #expect(slice.memoryBytes == 40 << 30)
        #expect(slice.resourceName == "nvidia.com/mig-3g.40gb")
        #expect(throws: SizingError.self) { try HardwareTarget.mig(catalog.gpu(named: "l4"), profile: "1g.10gb") }
    }

    @Test func timeSlicingWarnsThatMemoryIsShared() throws {
        var r = try request("qwen2.5-7b", gpu: "l40s", precision: .fp8, context: 4096)
        r.hardware = try .timeSliced(catalog.gpu(named: "l40s"), replicas: 2)
        let plan = try CapacityPlanner.plan(r)
        #expect(plan.replicasPerGpu == 2)
        #expect(plan.memoryBytesPerGpu == 48_305_799_168 / 2)
        #expect(plan.warnings.contains { $0.contains("no memory isolation") })
    }

    @Test func fleetFollowsThePeak() throws {
        var r = try request("llama-3.1-8b", gpu: "l40s")
        r.workload = Workload(peakRequestsPerSecond: 20, promptTokensMean: 1000, promptTokensP95: 3000, outputTokensMean: 250,
                              outputTokensP95: 800, timeToFirstTokenP95Seconds: 2, timePerOutputTokenSeconds: 0.05)
        let plan = try CapacityPlanner.plan(r)
        let fleet = try #require(plan.fleet)
        let perReplica = fleet.throughputPerReplica
        #expect(perReplica.requestsPerSecond > 0)
        #expect(perReplica.timePerOutputTokenSeconds <= 0.05)
        #expect(fleet.replicas == Int((20 / perReplica.requestsPerSecond).rounded(.up)))
        #expect(fleet.nodes * fleet.replicasPerNode >= fleet.replicas)
        #expect(fleet.warmNodes >= 1 && fleet.warmNodes <= fleet.nodes)
        #expect(fleet.onDemandUsdPerMonth != nil)
        r.workload?.peakRequestsPerSecond = 80
        let bigger = try #require(try CapacityPlanner.plan(r).fleet)
        #expect(bigger.replicas >= 4 * fleet.replicas - 3)
        // A tighter token-time objective lowers what a replica carries.
        r.workload?.timePerOutputTokenSeconds = 0.03
        let tight = try #require(try CapacityPlanner.plan(r).fleet)
        #expect(tight.throughputPerReplica.requestsPerSecond < perReplica.requestsPerSecond)
    }

    @Test func impossibleObjectiveIsAnError() throws {
        var r = try request("llama-3.1-70b", gpu: "l4")
        r.workload = Workload(peakRequestsPerSecond: 1, promptTokensMean: 100, promptTokensP95: 100, outputTokensMean: 100,
                              outputTokensP95: 100, timeToFirstTokenP95Seconds: 1, timePerOutputTokenSeconds: 0.001)
        let error = try #require(throws: SizingError.self) { try CapacityPlanner.plan(r) }
        #expect(error.message.contains("cannot meet the objective even alone"))
    }

    @Test func jsonFieldNamesAreStable() throws {
        var r = try request("llama-3.1-8b", gpu: "h100")
        r.workload = Workload(peakRequestsPerSecond: 5, promptTokensMean: 500, promptTokensP95: 1500, outputTokensMean: 200,
                              outputTokensP95: 600, timeToFirstTokenP95Seconds: 2, timePerOutputTokenSeconds: 0.1)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let object = try #require(try JSONSerialization.jsonObject(with: encoder.encode(CapacityPlanner.plan(r))) as? [String: Any])
        for key in ["weights_bytes", "kv_cache_bytes_per_token", "state_bytes_per_sequence", "cache_budget_bytes", "max_concurrency",
                    "replicas", "gpus_per_replica", "nodes", "runtime_overhead_bytes", "max_concurrency_at_mean", "tensor_parallel"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        let fleet = try #require(object["fleet"] as? [String: Any])
        #expect(fleet["autoscaler_target_waiting_per_replica"] is Int)
        #expect(fleet["warm_nodes"] is Int)
    }

    @Test func sizesForThe95thPercentileNotTheMean() throws {
        var r = try request("llama-3.1-8b", gpu: "l40s")
        r.workload = Workload(peakRequestsPerSecond: 20, promptTokensMean: 1000, promptTokensP95: 3000, outputTokensMean: 250,
                              outputTokensP95: 800, timeToFirstTokenP95Seconds: 2, timePerOutputTokenSeconds: 0.05)
        let plan = try CapacityPlanner.plan(r)
        let fleet = try #require(plan.fleet)
        let t = fleet.throughputPerReplica
        // The steady-state estimate (mean step time at the objective) allows more than the percentiles do.
        let mean = try #require(t.meanEstimateRequestsPerSecond)
        #expect(t.requestsPerSecond < mean)
        #expect(try #require(t.timePerOutputTokenP95Seconds) <= 0.05)
        #expect(t.timeToFirstTokenP95Seconds <= 2)
        #expect(fleet.autoscalerMetric == "vllm:num_requests_running + vllm:num_requests_waiting")
        #expect(Double(fleet.autoscalerTargetRunningPerReplica) >= t.runningRequests)

        // A fifth more traffic than the sized rate breaks the objective in the same simulation.
        let limits = ServeLimits(maxStepTokens: r.maxStepTokens, maxRunning: min(r.maxRunning, plan.maxConcurrencyAtMean ?? plan.maxConcurrency),
                                 maxWaiting: r.maxWaiting, contextLength: plan.contextLength, cacheBlocks: plan.cacheBlocks)
        let lengths = FleetSimulator.Lengths(prompt: TokenLengthDistribution(mean: 1000, p95: 3000), output: TokenLengthDistribution(mean: 250, p95: 800))
        let over = FleetSimulator.run(configuration: limits.fleet(stepTime: CapacityPlanner.stepTimeModel(for: r, plan: plan)),
                                      arrivals: .poisson(rate: t.requestsPerSecond * 1.2), lengths: lengths,
                                      durationSeconds: 1200 / t.requestsPerSecond, seed: 7)
        #expect(over.timePerOutputTokenP95 > 0.05 || over.timeToFirstTokenP95 > 2 || over.rejected > 0)
    }

    @Test func catalogFileOverridesAndExtends() throws {
        let file = Data(#"""
        {"price_date": "2099-01", "gpus": [{"name": "mi300x", "memory_bytes": 206158430208, "memory_bandwidth_gbps": 5300, "bf16_tflops": 1307}],
         "instances": [{"name": "g6.xlarge", "gpu": "l4", "gpus": 1, "on_demand_usd_per_hour": 0.5}]}
        """#.utf8)
        let merged = catalog.merging(try HardwareCatalog(json: file, source: "mine.json"))
        #expect(try merged.gpu(named: "MI300X").memoryBytes == 192 << 30)
        #expect(merged.instances.first { $0.name == "g6.xlarge" }?.onDemandUsdPerHour == 0.5)
        #expect(merged.instances.count == catalog.instances.count)
        let broken = try #require(throws: SizingError.self) {
            try HardwareCatalog(json: Data(#"{"gpus": [{"name": "x"}], "instances": []}"#.utf8), source: "bad.json")
        }
        #expect(broken.message.contains("bad.json"))
        #expect(broken.message.contains("memory_bytes") || broken.message.contains("memoryBytes"))
    }

    @Test func cpuPlanMatchesServeForTheSameBudget() throws {
        let path = try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first")
        let model = try ModelShape(ggufPath: path)
        var r = CapacityPlanner.Request(model: model, hardware: try .cpu(memoryBytes: 8 << 30, measured: CPUProfile.defaultModel.stepTime),
                                        catalog: catalog, weightPrecision: nil, contextLength: 8192)
        r.cacheBytes = 1 << 30
        let plan = try CapacityPlanner.plan(r)
        let serve = try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement, stateBytesPerElement: RecurrentStateStorage.bytesPerElement, contextLength: 8192, maxRunning: 16, stepTokens: 512, explicitBytes: 1 << 30,
                                    memoryFraction: 0.5, availableMemoryBytes: nil)
        #expect(plan.cacheBudgetBytes == 1 << 30)
        #expect(plan.kvCacheBytesPerToken == serve.bytesPerToken)
        #expect(plan.maxConcurrency == serve.fullContextSequences)
        #expect(plan.cacheBlocks == serve.blocks)
        #expect(plan.weightsBytes == 96_576_768)
    }
}

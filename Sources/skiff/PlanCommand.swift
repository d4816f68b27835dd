import ArgumentParser
import Foundation
import SkiffModelStore
import SkiffModels
import SkiffSizing

/// `skiff plan`: GPU memory → max concurrency → replicas → nodes, for one model.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Size a deployment: memory, max concurrency, parallelism, replicas, nodes and cost.",
        discussion: """
            The model is a GGUF file (or a name in the model directory), whose metadata is read without the \
            weights, or a Hugging Face config.json (or a directory holding one). Memory: the cache budget is \
            --gpu-memory-utilization of the device less the weights, the runtime overhead and --safety-margin-gib; \
            max concurrency is floor(cache budget ÷ memory per request). Give --peak-rps to size a fleet. \
            Field names of --json are documented in docs/sizing.md.
            """
    )

    @Option(name: .shortAndLong, help: "A GGUF file or model name, or a Hugging Face config.json (or its directory).")
    var model: String = ModelCatalog.builtIn.defaultEntry.name

    @Option(help: "The model directory (default: $SKIFF_MODEL_DIR, else ~/.cache/skiff/models).")
    var modelDir: String?

    @Option(help: "The GPU (a10g, l4, l40s, a100-40gb, a100-80gb, h100, h200, or catalog additions), or cpu for this machine.")
    var gpu: String = "cpu"

    @Option(help: "A MIG profile of the GPU, e.g. 3g.40gb.")
    var mig: String?

    @Option(help: "Replicas sharing one GPU by time-slicing (no memory isolation).")
    var timeSlicing: Int?

    @Option(help: "Tokens per request, prompt and output (default: the model's context).")
    var context: Int?

    @Option(help: "Weight precision: bf16, fp16, fp8, int8, int4 (default: as stored in a GGUF file, bf16 for a config.json).")
    var precision: String?

    @Option(help: "KV cache precision: fp16, bf16, fp8, q8_0.")
    var kvCacheDtype: String = "fp16"

    @Option(help: "The share of device memory the server uses.")
    var gpuMemoryUtilization: Double = 0.9

    @Option(help: "The engine that serves the plan: skiff or vllm (default: Skiff's engine where it serves the model, else vLLM).")
    var engine: String?

    @Option(help: "GiB kept free per device on top of weights, overhead and cache (default 0.5; 0 for Skiff's engine on a GPU).")
    var safetyMarginGib: Double?

    @Option(help: "Runtime overhead per device in GiB (default: Skiff's runner's scratch on a GPU, read from a GGUF file; else estimated from the step size).")
    var overheadGib: Double?

    @Option(help: "Use exactly this cache budget in bytes per device (as `skiff serve --kv-cache-bytes` does).")
    var kvCacheBytes: Int?

    @Option(help: "Tokens one engine step computes (default 512, as skiff serve; 2048 with vLLM).")
    var maxStepTokens: Int?

    @Option(help: "Sequences a replica runs at once (default 256 on GPUs; 16 on cpu).")
    var maxRunning: Int?

    @Option(help: "Requests a replica must hold at once for a MIG slice to be suggested.")
    var concurrency: Int = 1

    @Option(help: "Peak requests per second; sizes the fleet.")
    var peakRps: Double?

    @Option(help: "Prompt tokens: MEAN or MEAN,P95.")
    var promptTokens: String = "512"

    @Option(help: "Output tokens: MEAN or MEAN,P95.")
    var outputTokens: String = "256"

    @Option(help: "Objective for the 95th percentile of time to first token, ms.")
    var ttftP95Ms: Double = 2000

    @Option(help: "Objective for time per output token, ms.")
    var tpotMs: Double = 100

    @Option(help: "How fast the load grows, requests/s per minute (default: zero to peak in 10 minutes).")
    var ramp: Double?

    @Option(help: "Seconds for a new GPU node to become schedulable.")
    var nodeStartSeconds: Double = 300

    @Option(help: "Seconds from scheduling a pod to its process starting, image pull included.")
    var podStartSeconds: Double = 60

    @Option(help: "GB/s the weights load at.")
    var modelLoadGbps: Double = 1

    @Option(help: "Share of peak memory bandwidth the GPU roofline assumes.")
    var bandwidthEfficiency: Double = 0.77

    @Option(help: "Share of peak FLOPS the GPU roofline assumes.")
    var computeEfficiency: Double = 0.5

    @Option(help: "A catalog JSON file that adds GPUs and instance types or overrides them by name.")
    var catalog: String?

    @Option(help: "CPU step times measured by `skiff simulate calibrate` (default: the built-in profile of the default model).")
    var cpuProfile: String?

    @Option(help: "Memory of the cpu target in bytes (default: MemAvailable).")
    var memoryBytes: Int?

    @Flag(help: "Print the plan as JSON.")
    var json = false

    @Option(help: "Write Helm values for the chart to this file.")
    var helmValues: String?

    @Flag(help: "Print the built-in catalog (to start a --catalog file from) and exit.")
    var printCatalog = false

    func run() throws {
        if printCatalog {
            print(SizingInputs.builtInCatalogJSON)
            return
        }
        let inputs = try SizingInputs(model: model, modelDir: modelDir, catalog: catalog)
        let hardware = try inputs.hardware(gpu: gpu, mig: mig, timeSlicing: timeSlicing, cpuProfile: cpuProfile, memoryBytes: memoryBytes)
        let weightPrecision = try SizingInputs.weightPrecision(precision, model: inputs.model)
        guard let cachePrecision = CachePrecision(rawValue: kvCacheDtype.lowercased()) else {
            throw ValidationError("--kv-cache-dtype must be one of \(CachePrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let contextLength = try SizingInputs.context(context, model: inputs.model)
        var request = CapacityPlanner.Request(model: inputs.model, hardware: hardware, catalog: inputs.catalog,
                                              weightPrecision: weightPrecision, contextLength: contextLength)
        if let engine {
            guard let chosen = ServingEngine(rawValue: engine.lowercased()) else { throw ValidationError("--engine must be skiff or vllm") }
            if chosen == .skiff, let refusal = ServingEngine.skiffRefusal(for: inputs.model, on: hardware) {
                throw ValidationError("--engine skiff: \(refusal)")
            }
            if chosen == .vllm, hardware.isCPU { throw ValidationError("--engine vllm needs a GPU (--gpu l4, --gpu h100, ...)") }
            request.engine = chosen
            request.maxStepTokens = chosen.defaultStepTokens
        }
        request.cachePrecision = cachePrecision
        request.memoryUtilization = gpuMemoryUtilization
        request.safetyMarginBytes = safetyMarginGib.map { Int($0 * Double(1 << 30)) }
        request.overheadBytes = overheadGib.map { Int($0 * Double(1 << 30)) }
        request.deviceScratch = inputs.deviceScratch
        request.cacheBytes = kvCacheBytes
        if let maxStepTokens { request.maxStepTokens = maxStepTokens }
        if let maxRunning { request.maxRunning = maxRunning }
        request.neededConcurrency = concurrency
        request.bandwidthEfficiency = bandwidthEfficiency
        request.computeEfficiency = computeEfficiency
        request.nodeStartSeconds = nodeStartSeconds
        request.podStartSeconds = podStartSeconds
        request.modelLoadBytesPerSecond = modelLoadGbps * 1e9
        request.rampRequestsPerSecondPerMinute = ramp
        if let peakRps {
            let prompt = try SizingInputs.meanAndP95(promptTokens, option: "--prompt-tokens")
            let output = try SizingInputs.meanAndP95(outputTokens, option: "--output-tokens")
            request.workload = Workload(peakRequestsPerSecond: peakRps, promptTokensMean: prompt.mean, promptTokensP95: prompt.p95,
                                        outputTokensMean: output.mean, outputTokensP95: output.p95,
                                        timeToFirstTokenP95Seconds: ttftP95Ms / 1000, timePerOutputTokenSeconds: tpotMs / 1000)
        }
        let plan = try CapacityPlanner.plan(request)
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(plan), as: UTF8.self))
        } else {
            print(PlanTable.render(plan))
        }
        // After the plan, so that a plan with no Helm values (a model no engine of the chart serves there) is still shown.
        if let helmValues {
            let command = (["skiff"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
            let values = try HelmValues.yaml(for: plan, command: command)
            do {
                try values.write(toFile: helmValues, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("cannot write \(helmValues): \(error.localizedDescription)")
            }
        }
    }
}

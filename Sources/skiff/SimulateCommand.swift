import ArgumentParser
import Foundation
import SkiffModelStore
import SkiffSizing

/// `skiff simulate`: a deployment over a day (or an hour), event by event.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate a fleet: arrivals, continuous batching, autoscaling, node start-up, latency and cost.",
        discussion: """
            Each replica batches continuously with the admission, queue limit (429) and preemption rules of \
            `skiff serve`; its step time comes from a GPU roofline or, for cpu, measured figures. The \
            autoscaler is an HPA (or KEDA, which can scale to zero) on waiting or running requests per \
            replica, with stabilization windows; pods start, load the model, and wait for nodes that take \
            --node-start-seconds to come (or fail to, with --node-failure-probability). The fleet and memory \
            come from the same plan as `skiff plan`. --compare runs several strategies on the same arrivals. \
            `skiff simulate calibrate DIR` fits a CPU profile to measured `skiff bench` runs.
            """,
        subcommands: [CalibrateCommand.self]
    )

    @Option(name: .shortAndLong, help: "A GGUF file or model name, or a Hugging Face config.json (or its directory).")
    var model: String = ModelCatalog.builtIn.defaultEntry.name
    @Option(help: "The model directory.")
    var modelDir: String?
    @Option(help: "The GPU, or cpu.")
    var gpu: String = "cpu"
    @Option(help: "A MIG profile of the GPU.")
    var mig: String?
    @Option(help: "Weight precision (default: as stored, bf16 for a config.json).")
    var precision: String?
    @Option(help: "KV cache precision.")
    var kvCacheDtype: String = "fp16"
    @Option(help: "Tokens per request at most (default: the model's context).")
    var context: Int?
    @Option(help: "The share of device memory the server uses.")
    var gpuMemoryUtilization: Double = 0.9
    @Option(help: "A catalog JSON file.")
    var catalog: String?
    @Option(help: "CPU step times from `skiff simulate calibrate`.")
    var cpuProfile: String?
    @Option(help: "Memory of the cpu target in bytes (default: MemAvailable).")
    var memoryBytes: Int?
    @Option(help: "KV cache bytes per replica, as `skiff serve --kv-cache-bytes` (default: the plan's budget).")
    var kvCacheBytes: Int?

    @Option(help: "Poisson arrivals at this constant rate (requests/s).")
    var rate: Double?
    @Option(help: "A daily curve peaking at this rate at 16:00 (requests/s).")
    var dailyPeak: Double?
    @Option(help: "The daily curve's 04:00 trough (default: 5% of the peak).")
    var dailyTrough: Double?
    @Option(help: "A CSV trace: seconds,prompt_tokens,output_tokens per line.")
    var trace: String?
    @Option(help: "Prompt tokens: MEAN or MEAN,P95 (log-normal; a --trace brings its own).")
    var promptTokens: String = "512"
    @Option(help: "Output tokens: MEAN or MEAN,P95 (log-normal; a --trace brings its own).")
    var outputTokens: String = "256"
    @Option(help: "Seconds to simulate (default: 86400 for a daily curve, 3600 otherwise, the trace's length for a trace).")
    var duration: Double?
    @Option(help: "Objective: 95th percentile time to first token, ms.")
    var ttftP95Ms: Double = 2000
    @Option(help: "Objective: time per output token, ms.")
    var tpotMs: Double = 100

    @Option(help: "least-loaded (an inference gateway or endpoint picker) or random (a plain Kubernetes Service).")
    var routing: String = "least-loaded"
    @Option(help: "A fixed number of replicas (no autoscaling).")
    var replicas: Int?
    @Option(help: "hpa or keda (KEDA polls every 30 s and may scale to zero).")
    var autoscaler: String = "hpa"
    @Option(help: "running (running + waiting, the plan's recommendation) or waiting (vllm:num_requests_waiting) per replica.")
    var metric: String = "running"
    @Option(help: "The metric's target per replica (default: the plan's).")
    var target: Double?
    @Option(help: "Fewest replicas (0 scales to zero; default 1).")
    var minReplicas: Int?
    @Option(help: "Most replicas (default: twice the plan's replicas for the peak).")
    var maxReplicas: Int?
    @Option(help: "Scale-up stabilization window, seconds.")
    var scaleUpWindow: Double = 0
    @Option(help: "Scale-down stabilization window, seconds.")
    var scaleDownWindow: Double = 300
    @Option(help: "Seconds without requests before scaling to zero.")
    var cooldown: Double = 300
    @Option(help: "Nodes kept up even when empty.")
    var warmNodes: Int = 0
    @Option(help: "Seconds for a new node to become schedulable.")
    var nodeStartSeconds: Double = 300
    @Option(help: "Probability that a node launch fails (retried after 120 s).")
    var nodeFailureProbability: Double = 0
    @Option(help: "Seconds from scheduling a pod to its process running.")
    var podStartSeconds: Double = 60
    @Option(help: "Seconds to load the model (default: 20 + weights at 1 GB/s).")
    var modelLoadSeconds: Double?
    @Option(help: "Share of nodes on spot.")
    var spotShare: Double = 0
    @Option(help: "Requests a replica lets wait before answering 429.")
    var maxWaiting: Int = 256
    @Option(help: "Sequences a replica runs at once (default: 256 on GPUs, 16 on cpu, capped by memory).")
    var maxRunning: Int?
    @Option(help: "Tokens per engine step (default 2048 on GPUs, 512 on cpu).")
    var maxStepTokens: Int?
    @Option(help: "Seconds per point of the time series.")
    var sampleSeconds: Double = 60
    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Flag(help: "Compare strategies: as given, with and without a warm pool, scale to zero, half spot, concurrency metric.")
    var compare = false
    @Option(help: "Write the time series as an SVG chart to this file.")
    var svg: String?
    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let (configuration, arrivals, lengths, seconds, plan) = try setUp()
        if compare {
            try runComparison(base: configuration, arrivals: arrivals, lengths: lengths, seconds: seconds, plan: plan)
            return
        }
        let clock = ContinuousClock()
        let started = clock.now
        let report = FleetSimulator.run(configuration: configuration, arrivals: arrivals, lengths: lengths, durationSeconds: seconds, seed: seed)
        let elapsed = clock.now - started
        if let svg {
            let title = "\(plan.model.name) on \(plan.hardware): \(describe(arrivals))"
            try write(SVGPlot.simulation(report, title: title).render(), to: svg)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(SimulationTable.summary(report, configuration: configuration, simulatedIn: elapsed))
        }
    }

    private func runComparison(base: FleetConfiguration, arrivals: ArrivalPattern, lengths: FleetSimulator.Lengths, seconds: Double,
                               plan: CapacityPlan) throws {
        var strategies: [(String, FleetConfiguration)] = [("as given", base)]
        var cold = base
        cold.warmNodes = 0
        var warm = base
        warm.warmNodes = max(base.warmNodes, plan.fleet?.warmNodes ?? 1)
        warm.autoscaler.minReplicas = max(base.autoscaler.minReplicas, warm.warmNodes * base.replicasPerNode)
        var zero = cold
        zero.autoscaler.minReplicas = 0
        zero.autoscaler.periodSeconds = 30
        var spot = base
        spot.spotShare = 0.5
        // The other metric than the one given, at the plan's target for it.
        var other = base
        other.autoscaler.metric = base.autoscaler.metric == .running ? .waiting : .running
        other.autoscaler.target = Double(other.autoscaler.metric == .running ? plan.fleet?.autoscalerTargetRunningPerReplica ?? base.maxRunning
            : plan.fleet?.autoscalerTargetWaitingPerReplica ?? 5)
        strategies += [
            ("no warm pool", cold), ("warm pool of \(warm.warmNodes) nodes", warm), ("scale to zero (KEDA)", zero),
            ("half the nodes on spot", spot), ("scale on \(other.autoscaler.metric.rawValue) (target \(Int(other.autoscaler.target)))", other),
        ]
        var rows: [(String, SimulationReport)] = []
        for (name, configuration) in strategies {
            rows.append((name, FleetSimulator.run(configuration: configuration, arrivals: arrivals, lengths: lengths, durationSeconds: seconds, seed: seed)))
        }
        if let svg {
            for (index, row) in rows.enumerated() {
                let file = index == 0 ? svg : svg.replacingOccurrences(of: ".svg", with: "-\(index).svg")
                try write(SVGPlot.simulation(row.1, title: "\(row.0): \(describe(arrivals))").render(), to: file)
            }
        }
        print(SimulationTable.comparison(rows, configuration: base))
    }

    private func setUp() throws -> (FleetConfiguration, ArrivalPattern, FleetSimulator.Lengths, Double, CapacityPlan) {
        let inputs = try SizingInputs(model: model, modelDir: modelDir, catalog: catalog)
        let hardware = try inputs.hardware(gpu: gpu, mig: mig, timeSlicing: nil, cpuProfile: cpuProfile, memoryBytes: memoryBytes)
        guard let cachePrecision = CachePrecision(rawValue: kvCacheDtype.lowercased()) else {
            throw ValidationError("--kv-cache-dtype must be one of \(CachePrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var prompt = try SizingInputs.meanAndP95(promptTokens, option: "--prompt-tokens")
        var output = try SizingInputs.meanAndP95(outputTokens, option: "--output-tokens")
        let lengths = FleetSimulator.Lengths(prompt: TokenLengthDistribution(mean: prompt.mean, p95: prompt.p95),
                                             output: TokenLengthDistribution(mean: output.mean, p95: output.p95))
        let arrivals: ArrivalPattern
        var seconds: Double
        switch (rate, dailyPeak, trace) {
        case (let rate?, nil, nil):
            guard rate > 0 else { throw ValidationError("--rate must be positive") }
            arrivals = .poisson(rate: rate)
            seconds = duration ?? 3600
        case (nil, let peak?, nil):
            guard peak > 0 else { throw ValidationError("--daily-peak must be positive") }
            arrivals = .daily(peak: peak, trough: dailyTrough ?? peak * 0.05)
            seconds = duration ?? 86400
        case (nil, nil, let file?):
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read the trace \(file)") }
            let requests = try TraceRequest.parse(csv: text, source: file)
            guard let last = requests.last else { throw ValidationError("the trace \(file) has no requests") }
            arrivals = .trace(requests)
            seconds = duration ?? last.time + 600
            // The plan behind the fleet sizes for the trace's own lengths.
            prompt = Self.meanAndP95(requests.map(\.promptTokens))
            output = Self.meanAndP95(requests.map(\.outputTokens))
        default:
            throw ValidationError("give exactly one of --rate, --daily-peak or --trace")
        }
        guard seconds > 0 else { throw ValidationError("--duration must be positive") }

        // The plan for the peak: memory, throughput, replicas, instance type and prices.
        var request = CapacityPlanner.Request(model: inputs.model, hardware: hardware, catalog: inputs.catalog,
                                              weightPrecision: try SizingInputs.weightPrecision(precision, model: inputs.model),
                                              contextLength: try SizingInputs.context(context, model: inputs.model))
        request.cachePrecision = cachePrecision
        request.memoryUtilization = gpuMemoryUtilization
        request.cacheBytes = kvCacheBytes
        if let maxStepTokens { request.maxStepTokens = maxStepTokens }
        if let maxRunning { request.maxRunning = maxRunning }
        let peak: Double = switch arrivals {
        case .poisson(let rate): rate
        case .daily(let peak, let trough): max(peak, trough)
        case .trace(let requests): Self.busiestMinuteRate(requests)
        }
        request.workload = Workload(peakRequestsPerSecond: peak, promptTokensMean: prompt.mean, promptTokensP95: prompt.p95,
                                    outputTokensMean: output.mean, outputTokensP95: output.p95,
                                    timeToFirstTokenP95Seconds: ttftP95Ms / 1000, timePerOutputTokenSeconds: tpotMs / 1000)
        let plan = try CapacityPlanner.plan(request)
        guard let fleet = plan.fleet else { throw ValidationError("the plan has no fleet") }

        var c = FleetConfiguration(
            maxStepTokens: request.maxStepTokens, maxRunning: min(request.maxRunning, max(plan.maxConcurrencyAtMean ?? plan.maxConcurrency, 1)),
            maxWaiting: maxWaiting, contextLength: plan.contextLength, cacheBlocks: plan.cacheBlocks,
            stepTime: CapacityPlanner.stepTimeModel(for: request, plan: plan))
        c.blockGroups = request.model.cacheLayout.blockGroups
        c.replicasPerNode = fleet.replicasPerNode
        c.gpusPerNode = fleet.gpusPerNode ?? plan.gpusPerReplica
        c.nodeStartSeconds = hardware.isCPU ? 0 : nodeStartSeconds
        c.nodeLaunchFailureProbability = nodeFailureProbability
        c.podStartSeconds = podStartSeconds
        c.modelLoadSeconds = modelLoadSeconds ?? 20 + Double(plan.weightsBytes) / 1e9
        c.warmNodes = warmNodes
        c.spotShare = spotShare
        if let instance = fleet.instanceType.flatMap({ name in inputs.catalog.instances.first { $0.name == name } }) {
            c.onDemandUsdPerHour = instance.onDemandUsdPerHour
            c.spotUsdPerHour = instance.spotUsdPerHour ?? instance.onDemandUsdPerHour
        }
        c.timeToFirstTokenObjectiveSeconds = ttftP95Ms / 1000
        c.timePerOutputTokenObjectiveSeconds = tpotMs / 1000
        c.sampleSeconds = sampleSeconds
        guard let parsedMetric = FleetConfiguration.Autoscaler.Metric(rawValue: metric) else {
            throw ValidationError("--metric must be waiting or running")
        }
        guard autoscaler == "hpa" || autoscaler == "keda" else { throw ValidationError("--autoscaler must be hpa or keda") }
        guard let parsedRouting = FleetConfiguration.Routing(rawValue: routing) else {
            throw ValidationError("--routing must be least-loaded or random")
        }
        c.routing = parsedRouting
        c.autoscaler.metric = parsedMetric
        c.autoscaler.target = target ?? Double(parsedMetric == .waiting ? fleet.autoscalerTargetWaitingPerReplica : fleet.autoscalerTargetRunningPerReplica)
        c.autoscaler.minReplicas = minReplicas ?? 1
        c.autoscaler.maxReplicas = maxReplicas ?? max(2 * fleet.replicas, 1)
        c.autoscaler.periodSeconds = autoscaler == "keda" ? 30 : 15
        c.autoscaler.scaleUpWindowSeconds = scaleUpWindow
        c.autoscaler.scaleDownWindowSeconds = scaleDownWindow
        c.autoscaler.scaleToZeroCooldownSeconds = cooldown
        if let replicas {
            guard replicas >= 1 else { throw ValidationError("--replicas must be at least 1") }
            c.autoscaler.minReplicas = replicas
            c.autoscaler.maxReplicas = replicas
        }
        guard c.autoscaler.minReplicas >= 0, c.autoscaler.maxReplicas >= max(c.autoscaler.minReplicas, 1) else {
            throw ValidationError("--min-replicas must be 0 or more and --max-replicas at least 1 and at least --min-replicas")
        }
        if c.autoscaler.minReplicas == 0, autoscaler == "hpa" {
            throw ValidationError("an HPA cannot scale to zero; use --autoscaler keda with --min-replicas 0")
        }
        guard (0 ... 1).contains(nodeFailureProbability), (0 ... 1).contains(spotShare) else {
            throw ValidationError("--node-failure-probability and --spot-share are shares between 0 and 1")
        }
        return (c, arrivals, lengths, seconds, plan)
    }

    /// Mean and 95th percentile of token counts.
    private static func meanAndP95(_ values: [Int]) -> (mean: Int, p95: Int) {
        let sorted = values.sorted()
        let mean = max(1, sorted.reduce(0, +) / max(sorted.count, 1))
        return (mean, max(mean, sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.95))]))
    }

    /// Arrivals per second in the trace's busiest minute.
    private static func busiestMinuteRate(_ requests: [TraceRequest]) -> Double {
        var perMinute: [Int: Int] = [:]
        for request in requests { perMinute[Int(request.time / 60), default: 0] += 1 }
        return Double(perMinute.values.max() ?? 1) / 60
    }

    private func describe(_ arrivals: ArrivalPattern) -> String {
        switch arrivals {
        case .poisson(let rate): String(format: "Poisson %.3g req/s", rate)
        case .daily(let peak, let trough): String(format: "daily curve %.3g→%.3g req/s", trough, peak)
        case .trace(let requests): "trace of \(requests.count) requests"
        }
    }

    private func write(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw ValidationError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}

import Foundation
import SkiffEngine
import Synchronization

/// The server's Prometheus metrics under vLLM's names (`vllm:…`), so gateways (the Gateway API
/// Inference Extension), autoscalers and dashboards built for vLLM work unchanged. Every series carries
/// the `model_name` label, as vLLM's do.
///
/// Latencies are observed here by the routes; engine state (queue, running, cache, prefix cache,
/// preemptions, step sizes) is read from `EngineStatistics` when scraped. The exposition is written by
/// hand in the Prometheus text format 0.0.4.
final class ServerMetrics: Sendable {
    /// Buckets of vLLM's `time_to_first_token_seconds`.
    static let timeToFirstTokenBuckets: [Double] = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                                    1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560]
    /// Buckets of vLLM's `inter_token_latency_seconds`, with two finer ones first for fast small models.
    static let interTokenLatencyBuckets: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4,
                                                     0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
    /// Buckets of vLLM's `e2e_request_latency_seconds`.
    static let endToEndLatencyBuckets: [Double] = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240,
                                                   480, 960, 1920, 7680]
    /// Buckets of `iteration_tokens_total` (tokens in one engine step).
    static let iterationTokenBuckets: [Double] = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
    /// Buckets of `skiff:engine_step_duration_seconds`.
    static let stepDurationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56]

    /// Why a request ended, as `finished_reason` labels it.
    enum FinishedReason: String, CaseIterable, Sendable {
        case stop, length, abort
    }

    private struct State {
        var timeToFirstToken = Histogram(bounds: ServerMetrics.timeToFirstTokenBuckets)
        var interTokenLatency = Histogram(bounds: ServerMetrics.interTokenLatencyBuckets)
        var endToEndLatency = Histogram(bounds: ServerMetrics.endToEndLatencyBuckets)
        var iterationTokens = Histogram(bounds: ServerMetrics.iterationTokenBuckets)
        var stepDuration = Histogram(bounds: ServerMetrics.stepDurationBuckets)
        var promptTokens = 0
        var generationTokens = 0
        var finished: [FinishedReason: Int] = [:]
    }

    private let state = Mutex(State())
    private let modelLabel: String

    init(modelName: String) {
        modelLabel = "model_name=\"\(Self.escapeLabel(modelName))\""
    }

    func observeTimeToFirstToken(_ seconds: Double) { state.withLock { $0.timeToFirstToken.observe(seconds) } }
    func observeInterTokenLatency(_ seconds: Double) { state.withLock { $0.interTokenLatency.observe(seconds) } }
    func addPromptTokens(_ count: Int) { state.withLock { $0.promptTokens += count } }
    func addGenerationTokens(_ count: Int) { state.withLock { $0.generationTokens += count } }

    /// Books a request that ended (finished or aborted) after `seconds` from arrival.
    func observeFinished(_ reason: FinishedReason, seconds: Double) {
        state.withLock { s in
            s.finished[reason, default: 0] += 1
            s.endToEndLatency.observe(seconds)
        }
    }

    /// Books engine steps (from `InferenceEngine.drainSteps()`): their sizes and durations.
    func observeSteps(_ steps: [EngineStep]) {
        guard !steps.isEmpty else { return }
        state.withLock { s in
            for step in steps {
                s.iterationTokens.observe(Double(step.tokens))
                s.stepDuration.observe(step.seconds)
            }
        }
    }

    /// The Prometheus text: the engine's gauges and counters (zero while the model loads, when `engine` is nil)
    /// and the server's own counters and histograms.
    func exposition(engine loaded: InferenceEngine?) -> String {
        let engine = loaded?.currentStatistics ?? EngineStatistics()
        let blockSize = loaded?.configuration.blockSize ?? 0
        let capacity = loaded?.cacheCapacity
        let s = state.withLock { $0 }
        var out = ""
        func header(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ value: some Numeric & CustomStringConvertible, labels: String = "") {
            out += "\(name){\(modelLabel)\(labels.isEmpty ? "" : ",\(labels)")} \(value)\n"
        }
        /// A metric of one sample.
        func single(_ name: String, _ type: String, _ help: String, _ value: some Numeric & CustomStringConvertible,
                    labels: String = "") {
            header(name, type, help)
            sample(name, value, labels: labels)
        }
        func histogram(_ name: String, _ h: Histogram, _ help: String) {
            header(name, "histogram", help)
            var cumulative = 0
            for (bound, count) in zip(h.bounds, h.counts) {
                cumulative += count
                sample("\(name)_bucket", cumulative, labels: "le=\"\(bound)\"")
            }
            sample("\(name)_bucket", h.count, labels: "le=\"+Inf\"")
            sample("\(name)_sum", h.sum)
            sample("\(name)_count", h.count)
        }

        single("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
               engine.runningRequests)
        single("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
               engine.waitingRequests)
        single("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
               engine.cacheUsage)
        single("vllm:cache_config_info", "gauge", "Information of the KV cache configuration.",
               1, labels: "block_size=\"\(blockSize)\",num_gpu_blocks=\"\(engine.totalBlocks)\"")
        header("skiff:kv_cache_blocks", "gauge", "KV-cache blocks by state: used (held by sequences) or free (empty or holding reusable prefixes).")
        sample("skiff:kv_cache_blocks", engine.usedBlocks, labels: "state=\"used\"")
        sample("skiff:kv_cache_blocks", engine.totalBlocks - engine.usedBlocks, labels: "state=\"free\"")
        single("skiff:kv_cache_bytes_per_token", "gauge", "KV-cache bytes one token takes: 2 x layers x KV heads x head size x bytes per element.",
               capacity?.bytesPerToken ?? 0)
        single("skiff:kv_cache_bytes", "gauge", "KV-cache size in bytes: blocks x bytes per block (a block holds block_size tokens of one block group of layers).",
               capacity?.bytes ?? 0)
        single("skiff:kv_cache_full_context_sequences", "gauge",
               "Sequences the KV cache holds at once when each is as long as the context (max concurrency at full context).",
               capacity?.fullContextSequences ?? 0, labels: "context_length=\"\(capacity?.contextLength ?? 0)\"")
        single("skiff:state_bytes_per_sequence", "gauge",
               "Recurrent-state bytes one sequence takes over all state-space layers, whatever its length (0 for a transformer).",
               capacity?.stateBytesPerSequence ?? 0)
        single("skiff:state_slots", "gauge",
               "Recurrent states held at once: one per running sequence (--max-running) plus the prefix cache's snapshots (--state-snapshots).",
               capacity?.stateSlots ?? 0, labels: "snapshots=\"\(capacity?.stateSnapshots ?? 0)\"")

        single("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
               s.promptTokens)
        single("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
               s.generationTokens)
        single("vllm:prefix_cache_queries_total", "counter", "Prefix cache queries, in terms of number of queried tokens.",
               engine.prefixCacheQueriedTokens)
        single("vllm:prefix_cache_hits_total", "counter", "Prefix cache hits, in terms of number of cached tokens.",
               engine.prefixCacheHitTokens)
        single("vllm:num_preemptions_total", "counter", "Cumulative number of preemptions from the engine.",
               engine.preemptions)
        header("vllm:request_success_total", "counter", "Count of finished requests by finish reason.")
        for reason in FinishedReason.allCases {
            sample("vllm:request_success_total", s.finished[reason] ?? 0, labels: "finished_reason=\"\(reason.rawValue)\"")
        }

        histogram("vllm:time_to_first_token_seconds", s.timeToFirstToken, "Histogram of time to first token in seconds.")
        histogram("vllm:inter_token_latency_seconds", s.interTokenLatency, "Histogram of inter-token latency in seconds.")
        histogram("vllm:e2e_request_latency_seconds", s.endToEndLatency, "Histogram of end to end request latency in seconds.")
        histogram("vllm:iteration_tokens_total", s.iterationTokens, "Histogram of number of tokens per engine step.")
        histogram("skiff:engine_step_duration_seconds", s.stepDuration, "Histogram of engine step durations (forward pass, sampling, streaming) in seconds.")
        return out
    }

    private static func escapeLabel(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// A Prometheus histogram: per-bucket counts (made cumulative when written), sum and count.
struct Histogram: Sendable {
    let bounds: [Double]
    private(set) var counts: [Int]
    private(set) var sum: Double = 0
    private(set) var count = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ value: Double) {
        if let bucket = bounds.firstIndex(where: { value <= $0 }) { counts[bucket] += 1 }
        sum += value
        count += 1
    }
}

import Foundation

/// The summary of one run: counts, throughput and latency distributions, with the same
/// definitions as `vllm bench serve` so that figures compare:
///
/// - TTFT: from sending a request to the first chunk with generated text.
/// - TPOT: per request, (E2EL − TTFT) / (output tokens − 1); requests with one token have none.
/// - ITL: every gap between successive chunks with text, pooled over all requests (a chunk may
///   carry several tokens, so ITL can exceed TPOT).
/// - E2EL: from sending a request to the end of its stream.
/// - Duration: from the first request sent to the last one finished; throughputs divide by it.
///
/// Latencies cover successful requests only and are in milliseconds.
public struct BenchReport: Sendable {
    /// Failures that share a kind, a status and a message.
    public struct ErrorCount: Sendable, Equatable {
        /// The failure.
        public var error: RequestError
        /// How many requests failed this way.
        public var count: Int
    }

    /// The server's base URL.
    public var url: String
    /// The endpoint loaded.
    public var api: CompletionAPI
    /// The model requested.
    public var model: String
    /// When requests were sent.
    public var load: LoadPattern
    /// Requests sent.
    public var requests: Int
    /// Requests that streamed to `[DONE]` with generated text.
    public var completed: Int
    /// Requests that failed.
    public var failed: Int
    /// From the first request sent to the last one finished.
    public var duration: Duration
    /// Prompt tokens of successful requests, as their `usage` reports (0 for those without).
    public var totalInputTokens: Int
    /// Output tokens of successful requests (from `usage`, else counted chunks).
    public var totalOutputTokens: Int
    /// Successful requests whose output tokens came from `usage` rather than counted chunks.
    public var outputTokensFromUsage: Int
    /// Successful requests per second.
    public var requestThroughput: Double
    /// Output tokens per second.
    public var outputThroughput: Double
    /// Prompt and output tokens per second.
    public var totalTokenThroughput: Double
    /// Time to first token, ms.
    public var timeToFirstToken: LatencySummary
    /// Time per output token after the first, ms.
    public var timePerOutputToken: LatencySummary
    /// Inter-token (inter-chunk) latency, ms.
    public var interTokenLatency: LatencySummary
    /// End-to-end latency, ms.
    public var endToEndLatency: LatencySummary
    /// Failures grouped, most frequent first.
    public var errors: [ErrorCount]

    /// Summarizes the records of a run.
    init(records: [RequestRecord], target: BenchTarget, settings: RequestSettings, load: LoadPattern) {
        url = target.baseURL
        api = target.api
        model = settings.model
        self.load = load
        requests = records.count
        let successes = records.compactMap { try? $0.outcome.get() }
        completed = successes.count
        failed = records.count - successes.count
        if let start = records.map(\.sentAt).min(), let end = records.map(\.finishedAt).max() {
            duration = end - start
        } else {
            duration = .zero
        }
        totalInputTokens = successes.reduce(0) { $0 + ($1.promptTokens ?? 0) }
        totalOutputTokens = successes.reduce(0) { $0 + $1.outputTokens }
        outputTokensFromUsage = successes.count(where: \.outputTokensFromUsage)
        let seconds = duration.inSeconds
        requestThroughput = seconds > 0 ? Double(completed) / seconds : 0
        outputThroughput = seconds > 0 ? Double(totalOutputTokens) / seconds : 0
        totalTokenThroughput = seconds > 0 ? Double(totalInputTokens + totalOutputTokens) / seconds : 0
        timeToFirstToken = LatencySummary(successes.map(\.timeToFirstToken.inMilliseconds))
        timePerOutputToken = LatencySummary(successes.compactMap { $0.timePerOutputToken?.inMilliseconds })
        interTokenLatency = LatencySummary(successes.flatMap { $0.interTokenLatencies.map(\.inMilliseconds) })
        endToEndLatency = LatencySummary(successes.map(\.endToEndLatency.inMilliseconds))
        var counts: [RequestError: Int] = [:]
        for record in records {
            if case .failure(let error) = record.outcome { counts[error, default: 0] += 1 }
        }
        errors = counts.map { ErrorCount(error: $0.key, count: $0.value) }
            .sorted { ($0.count, $1.error.description) > ($1.count, $0.error.description) }
    }
}

extension BenchReport {
    /// The report as one JSON object with stable snake_case keys, sorted. Durations are
    /// seconds (`duration`) or milliseconds (`*_ms`); throughputs are per second; fields that do
    /// not apply to the load pattern are null. Keys:
    ///
    /// `url`, `endpoint`, `model`, `load` ("concurrency" or "poisson"), `max_concurrency`,
    /// `request_rate`, `seed`, `requests`, `completed`, `failed`, `duration`,
    /// `total_input_tokens`, `total_output_tokens`, `output_tokens_from_usage`,
    /// `request_throughput`, `output_throughput`, `total_token_throughput`;
    /// for each of `ttft`, `tpot`, `itl`, `e2el`: `mean_X_ms`, `median_X_ms`, `std_X_ms`,
    /// `p90_X_ms`, `p95_X_ms`, `p99_X_ms`; and `errors`, a list of {`kind`, `status`, `message`, `count`}.
    public func json() -> String {
        var object: [String: Any] = [
            "url": url, "endpoint": api.rawValue, "model": model,
            "requests": requests, "completed": completed, "failed": failed,
            "duration": duration.inSeconds,
            "total_input_tokens": totalInputTokens, "total_output_tokens": totalOutputTokens,
            "output_tokens_from_usage": outputTokensFromUsage,
            "request_throughput": requestThroughput, "output_throughput": outputThroughput,
            "total_token_throughput": totalTokenThroughput,
            "errors": errors.map { entry -> [String: Any] in
                ["kind": entry.error.kind.rawValue, "status": entry.error.status ?? NSNull(),
                 "message": entry.error.message, "count": entry.count]
            },
        ]
        switch load {
        case .concurrency(let workers):
            object["load"] = "concurrency"
            object["max_concurrency"] = workers
            object["request_rate"] = NSNull()
            object["seed"] = NSNull()
        case .poisson(let rate, let seed):
            object["load"] = "poisson"
            object["max_concurrency"] = NSNull()
            object["request_rate"] = rate
            object["seed"] = seed
        }
        for (name, summary) in [("ttft", timeToFirstToken), ("tpot", timePerOutputToken),
                                ("itl", interTokenLatency), ("e2el", endToEndLatency)] {
            object["mean_\(name)_ms"] = summary.mean
            object["median_\(name)_ms"] = summary.median
            object["std_\(name)_ms"] = summary.standardDeviation
            object["p90_\(name)_ms"] = summary.p90
            object["p95_\(name)_ms"] = summary.p95
            object["p99_\(name)_ms"] = summary.p99
        }
        // Every value above is a string, number, null, array or dictionary, which always serialize.
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

extension Duration {
    /// The duration in seconds.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }

    /// The duration in milliseconds.
    var inMilliseconds: Double { inSeconds * 1000 }
}

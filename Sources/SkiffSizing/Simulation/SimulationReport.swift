/// What a simulated day looked like: totals, latency percentiles, cost, and time series for plots.
public struct SimulationReport: Sendable, Equatable, Codable {
    /// One point of the time series (a `sampleSeconds` interval).
    public struct Sample: Sendable, Equatable, Codable {
        /// Seconds from the start at the end of the interval.
        public var time: Double
        /// Arrivals per second in the interval.
        public var arrivalsPerSecond: Double
        /// Requests waiting at the end (in replicas' queues and at the gateway).
        public var waiting: Int
        /// Requests running at the end.
        public var running: Int
        /// Replicas serving at the end.
        public var readyReplicas: Int
        /// Replicas asked for (serving, starting, or waiting for a node).
        public var desiredReplicas: Int
        /// Nodes up at the end.
        public var readyNodes: Int
        /// Nodes being launched at the end.
        public var provisioningNodes: Int
        /// Time to first token of requests whose first token came in the interval, 50th/95th percentile, seconds.
        public var timeToFirstTokenP50: Double?
        /// (see above)
        public var timeToFirstTokenP95: Double?
        /// Time per output token of requests that finished in the interval, 50th/95th percentile, seconds.
        public var timePerOutputTokenP50: Double?
        /// (see above)
        public var timePerOutputTokenP95: Double?
        /// Requests refused with 429 in the interval.
        public var rejected: Int
    }

    /// Seconds simulated.
    public var durationSeconds: Double
    /// Requests that arrived.
    public var requests: Int
    /// Requests that finished.
    public var completed: Int
    /// Requests refused with 429 (a replica's queue was full).
    public var rejected: Int
    /// Requests that waited at the gateway longer than its timeout (no replica was ready).
    public var timedOut: Int
    /// Requests still in flight at the end.
    public var unfinished: Int
    /// Time to first token over all completed requests, seconds.
    public var timeToFirstTokenP50: Double
    /// (see above)
    public var timeToFirstTokenP95: Double
    /// (see above)
    public var timeToFirstTokenP99: Double
    /// Time per output token over all completed requests, seconds.
    public var timePerOutputTokenP50: Double
    /// (see above)
    public var timePerOutputTokenP95: Double
    /// Output tokens per second over the run.
    public var outputTokensPerSecond: Double
    /// Seconds from the start to the last request that completed (what a benchmark's duration ends at).
    public var lastCompletionSeconds: Double
    /// Share of arrived requests that completed within both latency objectives.
    public var sloAttainment: Double
    /// Preemptions in all replicas.
    public var preemptions: Int
    /// Most replicas serving at once.
    public var peakReadyReplicas: Int
    /// Most nodes up at once.
    public var peakNodes: Int
    /// Node launches that failed.
    public var failedNodeLaunches: Int
    /// GPU-hours billed.
    public var gpuHours: Double
    /// Cost in US dollars (on-demand and spot by the spot share).
    public var costUsd: Double
    /// The time series.
    public var samples: [Sample]
}

/// The `fraction` quantile of ascending `sorted` values, interpolating linearly between the nearest ranks
/// (NumPy's default, as `skiff bench` and `vllm bench serve` report them); 0 when empty.
func quantile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard let first = sorted.first else { return 0 }
    guard sorted.count > 1 else { return first }
    let rank = min(max(fraction, 0), 1) * Double(sorted.count - 1)
    let lower = Int(rank.rounded(.down))
    let upper = min(lower + 1, sorted.count - 1)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - Double(lower))
}

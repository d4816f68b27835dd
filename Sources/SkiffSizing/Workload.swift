/// The traffic a deployment must carry at its peak, and the latency it must keep.
public struct Workload: Sendable, Equatable, Codable {
    /// Requests per second at the peak.
    public var peakRequestsPerSecond: Double
    /// Prompt tokens, mean.
    public var promptTokensMean: Int
    /// Prompt tokens, 95th percentile.
    public var promptTokensP95: Int
    /// Output tokens, mean.
    public var outputTokensMean: Int
    /// Output tokens, 95th percentile.
    public var outputTokensP95: Int
    /// The objective for the 95th percentile of time to first token, seconds.
    public var timeToFirstTokenP95Seconds: Double
    /// The objective for time per output token, seconds.
    public var timePerOutputTokenSeconds: Double

    /// Creates a workload.
    public init(peakRequestsPerSecond: Double, promptTokensMean: Int, promptTokensP95: Int, outputTokensMean: Int,
                outputTokensP95: Int, timeToFirstTokenP95Seconds: Double, timePerOutputTokenSeconds: Double) {
        self.peakRequestsPerSecond = peakRequestsPerSecond
        self.promptTokensMean = promptTokensMean
        self.promptTokensP95 = promptTokensP95
        self.outputTokensMean = outputTokensMean
        self.outputTokensP95 = outputTokensP95
        self.timeToFirstTokenP95Seconds = timeToFirstTokenP95Seconds
        self.timePerOutputTokenSeconds = timePerOutputTokenSeconds
    }

    /// Tokens of a mean request, prompt and output.
    public var meanRequestTokens: Int { promptTokensMean + outputTokensMean }
}

/// What one replica sustains within the objective, by the steady-state estimate of `ReplicaThroughput.estimate`.
public struct ReplicaThroughput: Sendable, Equatable, Codable {
    /// Requests per second one replica carries within the objective.
    public var requestsPerSecond: Double
    /// Output tokens per second at that rate.
    public var outputTokensPerSecond: Double
    /// Requests decoding at once at that rate (Little's law).
    public var runningRequests: Double
    /// Time per output token at that rate, seconds.
    public var timePerOutputTokenSeconds: Double
    /// Time to first token of a 95th-percentile prompt at that rate, seconds (without queueing).
    public var timeToFirstTokenP95Seconds: Double
    /// What stops the replica from carrying more: `time_per_output_token`, `time_to_first_token`, `memory` or `compute`
    /// (from the steady-state estimate), or `time_per_output_token_p95`, `time_to_first_token_p95`, `queue` (from the
    /// simulated percentiles).
    public var limitedBy: String
    /// 95th percentile of time per output token at that rate, seconds, when sized by simulation.
    public var timePerOutputTokenP95Seconds: Double?
    /// The rate the steady-state (mean) estimate allows, when the percentiles lowered it.
    public var meanEstimateRequestsPerSecond: Double?

    /// The highest arrival rate a replica keeps within `workload`'s objective.
    ///
    /// At a rate λ, each step decodes one token for every running request and computes prompt chunks for the
    /// arrivals (λ × mean prompt × step time tokens), so the step time t solves t = step(λ·P·t prompt tokens,
    /// B decodes) with B = λ × mean output × t running requests. Time per output token is t; time to first
    /// token is the steps a 95th-percentile prompt needs at the token budget left after the decodes, plus
    /// one step. A rate is sustainable when the step budget holds the prompt tokens, B fits in memory and both
    /// latencies meet the objective; the largest such rate is found by bisection. Queueing under random
    /// arrivals is left to `skiff simulate`.
    public static func estimate(workload: Workload, stepTime: StepTimeModel, maxStepTokens: Int, maxRunning: Int) -> ReplicaThroughput {
        func evaluate(_ rate: Double) -> ReplicaThroughput {
            let prompt = Double(workload.promptTokensMean), output = Double(max(workload.outputTokensMean, 1))
            var t = stepTime.seconds(StepShape(prefillTokens: 0, prefillAttended: 0, decodeSequences: 1, decodeAttended: Int(prompt)))
            var running = 0.0, prefill = 0.0
            for _ in 0 ..< 60 {
                // Past what a replica can hold the fixed point diverges; cap it so the counts stay representable.
                running = min(rate * output * t, 1e9)
                prefill = min(rate * prompt * t, 1e9)
                let next = stepTime.seconds(StepShape(
                    prefillTokens: Int(prefill.rounded()), prefillAttended: Int((prefill * prompt / 2).rounded()),
                    decodeSequences: max(1, Int(running.rounded(.up))), decodeAttended: Int((running * (prompt + output / 2)).rounded())))
                if abs(next - t) < 1e-9 { t = next; break }
                t = next
            }
            let left = Double(maxStepTokens) - running
            let ttft = (Double(workload.promptTokensP95) / max(left, 1)).rounded(.up) * t + t + stepTime.requestOverheadSeconds
            var limit = ""
            if prefill > left { limit = "compute" }
            else if running > Double(maxRunning) { limit = "memory" }
            else if t > workload.timePerOutputTokenSeconds { limit = "time_per_output_token" }
            else if ttft > workload.timeToFirstTokenP95Seconds { limit = "time_to_first_token" }
            return ReplicaThroughput(requestsPerSecond: rate, outputTokensPerSecond: rate * output, runningRequests: running,
                                     timePerOutputTokenSeconds: t, timeToFirstTokenP95Seconds: ttft, limitedBy: limit)
        }
        var low = 0.0, high = 1.0
        while evaluate(high).limitedBy.isEmpty, high < 1e7 { low = high; high *= 2 }
        let reason = evaluate(high).limitedBy
        for _ in 0 ..< 50 {
            let mid = (low + high) / 2
            if evaluate(mid).limitedBy.isEmpty { low = mid } else { high = mid }
        }
        var best = evaluate(low)
        best.limitedBy = evaluate(high).limitedBy.isEmpty ? reason : evaluate(high).limitedBy
        return best
    }
}

extension ReplicaThroughput {
    /// The highest Poisson arrival rate at which one simulated replica keeps the 95th percentiles of time per
    /// output token and time to first token (queueing included) within `workload`'s objective, refusing nothing.
    ///
    /// The steady-state `estimate` sizes for the mean step time; under random arrivals steps vary (bursts of
    /// prompt chunks, more sequences running), so a request's average step time has a tail above the mean.
    /// Starting from that estimate as the ceiling, this bisects the rate with short simulations
    /// (`requests` arrivals of the workload's log-normal lengths, the same seed at every rate) and reports the
    /// rate, the running plus waiting requests at it (the concurrency an autoscaler should target) and the
    /// simulated percentiles. Deterministic.
    public static func sizedForPercentiles(workload: Workload, stepTime: StepTimeModel, limits: ServeLimits, ceiling: ReplicaThroughput,
                                           requests: Int = 1200) -> ReplicaThroughput {
        guard ceiling.requestsPerSecond > 0 else { return ceiling }
        let lengths = FleetSimulator.Lengths(
            prompt: TokenLengthDistribution(mean: workload.promptTokensMean, p95: workload.promptTokensP95),
            output: TokenLengthDistribution(mean: workload.outputTokensMean, p95: workload.outputTokensP95))
        func simulate(_ rate: Double) -> SimulationReport {
            let seconds = Double(requests) / rate
            var c = limits.fleet(stepTime: stepTime)
            c.sampleSeconds = seconds / 40
            return FleetSimulator.run(configuration: c, arrivals: .poisson(rate: rate), lengths: lengths, durationSeconds: seconds, seed: 7)
        }
        func failure(_ r: SimulationReport) -> String? {
            if r.rejected > 0 { return "queue" }
            if r.timePerOutputTokenP95 > workload.timePerOutputTokenSeconds { return "time_per_output_token_p95" }
            if r.timeToFirstTokenP95 > workload.timeToFirstTokenP95Seconds { return "time_to_first_token_p95" }
            return nil
        }
        var high = ceiling.requestsPerSecond
        var atHigh = simulate(high)
        var limit = failure(atHigh)
        guard limit != nil else {
            var sized = ceiling
            sized.timePerOutputTokenP95Seconds = atHigh.timePerOutputTokenP95
            return sized
        }
        var low = 0.0
        var atLow: SimulationReport?
        for _ in 0 ..< 12 {
            let mid = (low + high) / 2
            let report = simulate(mid)
            if let reason = failure(report) {
                (high, atHigh, limit) = (mid, report, reason)
            } else {
                (low, atLow) = (mid, report)
            }
        }
        guard let atLow else {
            return ReplicaThroughput(requestsPerSecond: 0, outputTokensPerSecond: 0, runningRequests: 0,
                                     timePerOutputTokenSeconds: ceiling.timePerOutputTokenSeconds,
                                     timeToFirstTokenP95Seconds: atHigh.timeToFirstTokenP95, limitedBy: limit ?? "queue",
                                     timePerOutputTokenP95Seconds: atHigh.timePerOutputTokenP95, meanEstimateRequestsPerSecond: ceiling.requestsPerSecond)
        }
        let concurrency = atLow.samples.isEmpty ? low * Double(workload.outputTokensMean) * atLow.timePerOutputTokenP50
            : atLow.samples.reduce(0.0) { $0 + Double($1.running + $1.waiting) } / Double(atLow.samples.count)
        return ReplicaThroughput(requestsPerSecond: low, outputTokensPerSecond: low * Double(workload.outputTokensMean),
                                 runningRequests: concurrency, timePerOutputTokenSeconds: atLow.timePerOutputTokenP50,
                                 timeToFirstTokenP95Seconds: atLow.timeToFirstTokenP95, limitedBy: limit ?? "",
                                 timePerOutputTokenP95Seconds: atLow.timePerOutputTokenP95, meanEstimateRequestsPerSecond: ceiling.requestsPerSecond)
    }
}

/// Mean, standard deviation and percentiles of one metric over the successful requests of a run.
///
/// Percentiles interpolate linearly between the two nearest ranks (NumPy's default, which
/// `vllm bench serve` uses), so figures are comparable with it. An empty sample gives zeros
/// everywhere and a `count` of 0.
public struct LatencySummary: Sendable, Equatable {
    /// The number of values summarized.
    public var count: Int
    /// The arithmetic mean.
    public var mean: Double
    /// The population standard deviation (divides by `count`, like NumPy's `std`).
    public var standardDeviation: Double
    /// The 50th percentile.
    public var median: Double
    /// The 90th percentile.
    public var p90: Double
    /// The 95th percentile.
    public var p95: Double
    /// The 99th percentile.
    public var p99: Double

    /// Summarizes `values`, in whatever unit they are given.
    public init(_ values: [Double]) {
        let sorted = values.sorted()
        count = sorted.count
        guard !sorted.isEmpty else {
            mean = 0; standardDeviation = 0; median = 0; p90 = 0; p95 = 0; p99 = 0
            return
        }
        let mean = sorted.reduce(0, +) / Double(sorted.count)
        self.mean = mean
        standardDeviation = (sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(sorted.count)).squareRoot()
        median = Self.percentile(50, ofSorted: sorted)
        p90 = Self.percentile(90, ofSorted: sorted)
        p95 = Self.percentile(95, ofSorted: sorted)
        p99 = Self.percentile(99, ofSorted: sorted)
    }

    /// The `percent`th percentile (0...100) of ascending `sorted` values, interpolating linearly
    /// between the values at ranks ⌊r⌋ and ⌈r⌉ where r = percent/100 × (count − 1).
    /// Returns 0 for an empty array.
    public static func percentile(_ percent: Double, ofSorted sorted: [Double]) -> Double {
        guard let first = sorted.first else { return 0 }
        guard sorted.count > 1 else { return first }
        let rank = min(max(percent, 0), 100) / 100 * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = rank - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }
}

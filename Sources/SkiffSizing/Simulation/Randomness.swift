import Foundation

/// A small seeded generator (SplitMix64), so a simulation with the same seed gives the same numbers.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in (0, 1].
    mutating func unit() -> Double { (Double(next() >> 11) + 1) / Double(1 << 53) }

    /// An exponential value with mean `mean`.
    mutating func exponential(mean: Double) -> Double { -log(unit()) * mean }

    /// A standard normal value (Box–Muller).
    mutating func normal() -> Double { sqrt(-2 * log(unit())) * cos(2 * Double.pi * unit()) }
}

/// Token lengths drawn from a log-normal distribution with a given mean and 95th percentile.
///
/// For a log-normal, mean = exp(μ + σ²/2) and p95 = exp(μ + 1.645 σ), so σ solves
/// σ²/2 − 1.645 σ + ln(p95/mean) = 0 (the smaller root); equal mean and p95 give a constant length.
public struct TokenLengthDistribution: Sendable, Equatable, Codable {
    /// The mean length.
    public var mean: Int
    /// The 95th percentile.
    public var p95: Int

    /// Creates a distribution.
    public init(mean: Int, p95: Int) {
        self.mean = mean
        self.p95 = max(p95, mean)
    }

    var sigma: Double {
        let ratio = log(Double(p95) / Double(mean))
        let discriminant = 1.645 * 1.645 - 2 * ratio
        return ratio <= 0 ? 0 : discriminant >= 0 ? 1.645 - sqrt(discriminant) : 1.645
    }

    func sample(_ random: inout SplitMix64) -> Int {
        let s = sigma
        guard s > 0 else { return mean }
        let mu = log(Double(mean)) - s * s / 2
        return max(1, Int(exp(mu + s * random.normal()).rounded()))
    }
}

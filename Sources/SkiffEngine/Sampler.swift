import Foundation
import SkiffGrammar
import SkiffModelFile

/// Chooses next tokens from logits according to `SamplingParameters`, with its own seeded random state.
public struct Sampler: Sendable {
    /// The parameters in force.
    public let parameters: SamplingParameters
    private var random: Xoshiro256

    /// Creates a sampler; a nil seed draws one from the system's generator.
    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        random = Xoshiro256(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
    }

    /// Picks the next token. `counts` holds how often each token id was already generated (for penalties);
    /// tokens in `excluded` are never picked (unless every token is excluded); with `allowed`, only its tokens are
    /// (it must not be empty).
    /// - Throws: `EngineError` `.model` when a logit is NaN or infinite: the model's numbers broke down, and
    ///   a token drawn from them would be noise.
    public mutating func sample(logits: UnsafeBufferPointer<Float>, counts: [Int32: Int] = [:],
                                excluding excluded: Set<Int32> = [], allowing allowed: TokenMask? = nil) throws(EngineError) -> Int32 {
        guard let broken = logits.firstIndex(where: { !$0.isFinite }) else {
            return choose(logits, counts: counts, excluding: excluded, allowing: allowed)
        }
        throw EngineError(.model, "the model computed a logit that is not a finite number (\(logits[broken]) for token \(broken)), "
            + "so no token can be drawn; its weights, or its numbers at this length, have broken down")
    }

    private mutating func choose(_ logits: UnsafeBufferPointer<Float>, counts: [Int32: Int], excluding excluded: Set<Int32>,
                                 allowing allowed: TokenMask?) -> Int32 {
        let p = parameters
        let penalizes = !counts.isEmpty && (p.presencePenalty != 0 || p.frequencyPenalty != 0)
        guard penalizes || !excluded.isEmpty || allowed != nil else { return choose(from: logits) }
        var adjusted = Array(logits)
        if let allowed {
            allowed.words.withUnsafeBufferPointer { words in
                for i in adjusted.indices where words[i >> 6] & (1 << UInt64(i & 63)) == 0 { adjusted[i] = -.infinity }
            }
        }
        if penalizes {
            for (token, count) in counts where Int(token) < adjusted.count && count > 0 {
                adjusted[Int(token)] -= p.presencePenalty + p.frequencyPenalty * Float(count)
            }
        }
        if excluded.count < adjusted.count {
            for token in excluded where (0 ..< adjusted.count).contains(Int(token)) {
                adjusted[Int(token)] = -.infinity
            }
        }
        return adjusted.withUnsafeBufferPointer { choose(from: $0) }
    }

    /// The log-probability of `token` and of the `top` likeliest tokens under the softmax of `logits`
    /// (the model's own distribution: no penalties, temperature or filters), most likely first.
    public static func logprobs(of token: Int32, top: Int, logits: UnsafeBufferPointer<Float>) -> PositionLogprobs {
        var maxLogit = -Float.infinity
        for value in logits where value > maxLogit { maxLogit = value }
        var sum: Double = 0
        for value in logits { sum += Double(exp(value - maxLogit)) }
        let logNormalizer = maxLogit + Float(log(sum))
        var best: [TokenLogprob] = []
        if top > 0 {
            best.reserveCapacity(top + 1)
            for (i, value) in logits.enumerated() where best.count < top || value > best[best.count - 1].logprob {
                let position = best.firstIndex { value > $0.logprob } ?? best.count
                best.insert(TokenLogprob(token: Int32(i), logprob: value), at: position)
                if best.count > top { best.removeLast() }
            }
            for i in best.indices { best[i].logprob -= logNormalizer }
        }
        let chosen = (0 ..< logits.count).contains(Int(token)) ? logits[Int(token)] - logNormalizer : -.infinity
        return PositionLogprobs(chosen: TokenLogprob(token: token, logprob: chosen), top: best)
    }

    private mutating func choose(from logits: UnsafeBufferPointer<Float>) -> Int32 {
        let p = parameters
        var best = 0
        for i in 1 ..< logits.count where logits[i] > logits[best] { best = i }
        if p.temperature <= 0 || p.topK == 1 { return Int32(best) }

        // Candidates worth considering: anything within a factor e^-20 of the best (drops < 2e-9 of mass).
        let maxLogit = logits[best]
        let floor = maxLogit - 20 * p.temperature
        var candidates: [(token: Int32, logit: Float)] = []
        for i in 0 ..< logits.count where logits[i] >= floor {
            candidates.append((Int32(i), logits[i]))
        }
        candidates.sort { $0.logit > $1.logit }
        if p.topK > 0, candidates.count > p.topK { candidates.removeLast(candidates.count - p.topK) }

        var probabilities = candidates.map { exp(($0.logit - maxLogit) / p.temperature) }
        let total = probabilities.reduce(0, +)
        for i in probabilities.indices { probabilities[i] /= total }

        var keep = probabilities.count
        if p.topP < 1 {
            var cumulative: Float = 0
            for (i, prob) in probabilities.enumerated() {
                cumulative += prob
                if cumulative >= p.topP {
                    keep = i + 1
                    break
                }
            }
        }
        if p.minP > 0 {
            let threshold = p.minP * probabilities[0]
            keep = min(keep, probabilities.prefix(keep).firstIndex { $0 < threshold } ?? keep)
        }
        keep = max(keep, 1)
        let kept = probabilities.prefix(keep).reduce(0, +)
        var draw = Float(random.nextUnit()) * kept
        for i in 0 ..< keep {
            draw -= probabilities[i]
            if draw <= 0 { return candidates[i].token }
        }
        return candidates[keep - 1].token
    }
}

/// xoshiro256** seeded through SplitMix64: fast, reproducible across platforms.
struct Xoshiro256: Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// A uniform value in [0, 1).
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}

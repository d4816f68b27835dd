import Foundation
import SkiffEngine
import SkiffModelFile
import Testing

@Suite struct SamplerTests {
    let logits: [Float] = [1, 5, 3, 4.5, -2, 0]

    func draws(_ parameters: SamplingParameters, count: Int = 2000, counts: [Int32: Int] = [:]) throws -> [Int32: Int] {
        var sampler = Sampler(parameters)
        var seen: [Int32: Int] = [:]
        for _ in 0 ..< count {
            seen[try logits.withUnsafeBufferPointer { try sampler.sample(logits: $0, counts: counts) }, default: 0] += 1
        }
        return seen
    }

    @Test func greedyTakesTheLargestLogit() throws {
        #expect(try draws(.greedy, count: 10) == [1: 10])
        #expect(try draws(SamplingParameters(temperature: 1, topK: 1, seed: 1), count: 10) == [1: 10])
    }

    @Test func seedMakesDrawsReproducible() throws {
        let p = SamplingParameters(temperature: 1.5, seed: 1234)
        var a = Sampler(p), b = Sampler(p)
        let first = try (0 ..< 50).map { _ in try logits.withUnsafeBufferPointer { try a.sample(logits: $0) } }
        let second = try (0 ..< 50).map { _ in try logits.withUnsafeBufferPointer { try b.sample(logits: $0) } }
        #expect(first == second)
        #expect(Set(first).count > 1)
    }

    @Test func topKKeepsOnlyTheLikeliest() throws {
        let seen = try draws(SamplingParameters(temperature: 5, topK: 2, seed: 7))
        #expect(Set(seen.keys) == [1, 3])
    }

    @Test func topPKeepsTheNucleus() throws {
        // Probabilities at temperature 1: 5 → 0.56, 4.5 → 0.34, 3 → 0.08 ...: top-p 0.8 keeps two tokens.
        let seen = try draws(SamplingParameters(temperature: 1, topP: 0.8, seed: 9))
        #expect(Set(seen.keys) == [1, 3])
    }

    @Test func minPDropsUnlikelyTokens() throws {
        // min-p 0.2: tokens below 0.2 × p(5) are dropped; e^(3-5) = 0.135 < 0.2 goes, e^(4.5-5) = 0.61 stays.
        let seen = try draws(SamplingParameters(temperature: 1, minP: 0.2, seed: 11))
        #expect(Set(seen.keys) == [1, 3])
    }

    @Test func temperatureSpreadsTheDistribution() throws {
        let seen = try draws(SamplingParameters(temperature: 1, seed: 3), count: 4000)
        let share = Double(seen[1, default: 0]) / 4000
        // softmax share of logit 5 is 0.5613.
        #expect(abs(share - 0.5613) < 0.04)
    }

    @Test func penaltiesDemoteRepeatedTokens() throws {
        #expect(try draws(SamplingParameters(temperature: 0, presencePenalty: 1), count: 5, counts: [1: 1]) == [3: 5])
        #expect(try draws(SamplingParameters(temperature: 0, frequencyPenalty: 0.2), count: 5, counts: [1: 2]) == [1: 5])
        #expect(try draws(SamplingParameters(temperature: 0, frequencyPenalty: 0.4), count: 5, counts: [1: 2]) == [3: 5])
    }

    @Test func excludedTokensAreNeverDrawn() throws {
        var greedy = Sampler(.greedy)
        #expect(try logits.withUnsafeBufferPointer { try greedy.sample(logits: $0, excluding: [1]) } == 3)
        var random = Sampler(SamplingParameters(temperature: 2, seed: 9))
        let seen = Set(try (0 ..< 500).map { _ in try logits.withUnsafeBufferPointer { try random.sample(logits: $0, excluding: [1, 3]) } })
        #expect(!seen.contains(1) && !seen.contains(3))
        #expect(seen.count > 1)
    }

    @Test func logitsThatAreNotNumbersAreRefused() throws {
        for (broken, shown) in [(Float.nan, "nan"), (.infinity, "inf"), (-.infinity, "-inf")] {
            var sampler = Sampler(SamplingParameters(temperature: 0.8, minP: 0.05, seed: 1))
            var bad = logits
            bad[2] = broken
            let error = #expect(throws: EngineError.self) { try bad.withUnsafeBufferPointer { try sampler.sample(logits: $0) } }
            #expect(error?.code == .model && error?.message.contains("(\(shown) for token 2)") == true)
        }
    }

    @Test func logprobsAreTheLogSoftmaxOfTheLogits() throws {
        let normalizer = log(logits.map { exp(Double($0)) }.reduce(0, +))
        let result = logits.withUnsafeBufferPointer { Sampler.logprobs(of: 2, top: 3, logits: $0) }
        #expect(result.chosen.token == 2)
        #expect(abs(Double(result.chosen.logprob) - (3 - normalizer)) < 1e-5)
        #expect(result.top.map(\.token) == [1, 3, 2])
        for entry in result.top {
            #expect(abs(Double(entry.logprob) - (Double(logits[Int(entry.token)]) - normalizer)) < 1e-5)
        }
        let none = logits.withUnsafeBufferPointer { Sampler.logprobs(of: 4, top: 0, logits: $0) }
        #expect(none.top.isEmpty)
        #expect(abs(Double(none.chosen.logprob) - (-2 - normalizer)) < 1e-5)
    }
}

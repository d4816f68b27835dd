import Foundation

/// Prompt-processing and generation speed measured like `llama-bench -p 512 -n 128 -d DEPTH`: a batch of
/// `promptTokens` random tokens processed at once, and `generateTokens` tokens decoded one at a time
/// after `depth` tokens already in the cache (computed first, not timed), each repeated `repetitions`
/// times after one warm-up.
public struct EngineBenchmark: Sendable {
    /// One test's figures.
    public struct Figure: Sendable, Codable {
        /// Mean tokens per second.
        public var tokensPerSecond: Double
        /// Standard deviation of tokens per second across repetitions.
        public var standardDeviation: Double
    }

    /// Prompt processing.
    public var prompt: Figure
    /// Generation.
    public var generation: Figure

    /// Runs the benchmark on `session` (its cache is cleared before and after), which must hold `depth +
    /// generateTokens` tokens and `promptTokens`.
    public static func run(session: GenerationSession, promptTokens: Int = 512, generateTokens: Int = 128, depth: Int = 0,
                           repetitions: Int = 5) throws(EngineError) -> EngineBenchmark {
        let vocabulary = Int32(session.model.vocabularySize)
        var random = Xoshiro256(seed: 42)
        let prompt = (0 ..< promptTokens).map { _ in Int32(random.next() % UInt64(vocabulary)) }
        let context = (0 ..< depth).map { _ in Int32(random.next() % UInt64(vocabulary)) }

        func timePrompt() throws(EngineError) -> Double {
            session.reset()
            let start = ContinuousClock.now
            _ = try session.append(prompt)
            return Double(promptTokens) / seconds(since: start)
        }
        func timeGeneration() throws(EngineError) -> Double {
            session.reset()
            _ = try session.append(context)
            var token = prompt[0]
            let start = ContinuousClock.now
            for _ in 0 ..< generateTokens {
                let logits = try session.append([token])
                token = Int32(argmax(logits))
            }
            return Double(generateTokens) / seconds(since: start)
        }

        _ = try timePrompt()
        var promptRates: [Double] = []
        for _ in 0 ..< repetitions { promptRates.append(try timePrompt()) }
        _ = try timeGeneration()
        var generationRates: [Double] = []
        for _ in 0 ..< repetitions { generationRates.append(try timeGeneration()) }
        session.reset()
        return EngineBenchmark(prompt: Figure(promptRates), generation: Figure(generationRates))
    }
}

extension EngineBenchmark.Figure {
    init(_ rates: [Double]) {
        let mean = rates.reduce(0, +) / Double(max(rates.count, 1))
        let variance = rates.count > 1 ? rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(rates.count - 1) : 0
        self.init(tokensPerSecond: mean, standardDeviation: variance.squareRoot())
    }
}

private func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// Index of the largest value.
func argmax(_ values: [Float]) -> Int {
    var best = 0
    for i in values.indices where values[i] > values[best] { best = i }
    return best
}

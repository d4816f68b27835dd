import Foundation

/// Perplexity over a text, computed the way llama.cpp's `llama-perplexity` does so the two compare:
/// the text is cut into chunks of `contextLength` tokens, each evaluated from an empty cache, and only the
/// second half of each chunk is scored (so every scored token sees at least half a context).
public struct PerplexityResult: Sendable {
    /// exp(mean negative log-likelihood) over all scored tokens.
    public var perplexity: Double
    /// Standard error of the perplexity estimate (as llama-perplexity reports it).
    public var standardError: Double
    /// Running perplexity after each chunk.
    public var perChunk: [Double]
    /// Tokens scored.
    public var scoredTokens: Int
    /// Tokens the text tokenized to.
    public var textTokens: Int
}

extension GenerationSession {
    /// Computes perplexity of `text` in chunks of `contextLength` tokens. `onChunk` reports
    /// (chunk index, chunks total, running perplexity).
    public func perplexity(of text: String, contextLength: Int,
                           onChunk: (Int, Int, Double) -> Void = { _, _, _ in }) throws(EngineError) -> PerplexityResult {
        let tokenizer = model.tokenizer
        let tokens = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
        guard contextLength >= 4, contextLength <= self.contextLength else {
            throw EngineError(.invalidInput, "the perplexity context must be between 4 and \(self.contextLength) tokens")
        }
        guard tokens.count >= 2 * contextLength else {
            throw EngineError(.invalidInput, "the text has \(tokens.count) tokens; perplexity at context \(contextLength) needs at least \(2 * contextLength)")
        }
        let addsBOS = tokenizer.addsBOS
        let chunks = tokens.count / contextLength
        let first = contextLength / 2
        let vocabulary = model.vocabularySize
        var nll = 0.0
        var nll2 = 0.0
        var count = 0
        var perChunk: [Double] = []
        for chunk in 0 ..< chunks {
            var input = Array(tokens[chunk * contextLength ..< (chunk + 1) * contextLength])
            if addsBOS, let bos = tokenizer.bos { input[0] = bos }
            reset()
            let logits = try append(input, allLogits: true)
            logits.withUnsafeBufferPointer { all in
                for i in first ..< contextLength - 1 {
                    let row = UnsafeBufferPointer(rebasing: all[i * vocabulary ..< (i + 1) * vocabulary])
                    let v = -logSoftmax(row, at: Int(input[i + 1]))
                    nll += v
                    nll2 += v * v
                    count += 1
                }
            }
            let running = exp(nll / Double(count))
            perChunk.append(running)
            onChunk(chunk + 1, chunks, running)
        }
        reset()
        let mean = nll / Double(count)
        let variance = nll2 / Double(count) - mean * mean
        let ppl = exp(mean)
        let error = variance > 0 ? (variance / Double(count - 1)).squareRoot() * ppl : 0
        return PerplexityResult(perplexity: ppl, standardError: error, perChunk: perChunk, scoredTokens: count,
                                textTokens: tokens.count)
    }
}

/// log softmax(row)[index], computed stably in double precision.
func logSoftmax(_ row: UnsafeBufferPointer<Float>, at index: Int) -> Double {
    var maxLogit = -Float.infinity
    for v in row where v > maxLogit { maxLogit = v }
    var sum = 0.0
    for v in row { sum += exp(Double(v - maxLogit)) }
    return Double(row[index] - maxLogit) - log(sum)
}

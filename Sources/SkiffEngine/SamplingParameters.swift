/// How the next token is chosen from the model's logits.
///
/// Temperature 0 means greedy (always the most likely token). Otherwise the filters apply in the order
/// vLLM uses: penalties, temperature, top-k, top-p, min-p, then a draw from what remains.
public struct SamplingParameters: Sendable, Equatable {
    /// Softmax temperature; 0 selects greedy decoding.
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (0 disables).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability adds up to `topP` (1 disables).
    public var topP: Float
    /// Drop tokens less likely than `minP` × the most likely token's probability (0 disables).
    public var minP: Float
    /// Subtracted from the logit of every token already generated (OpenAI `presence_penalty`).
    public var presencePenalty: Float
    /// Subtracted once per earlier occurrence of a token (OpenAI `frequency_penalty`).
    public var frequencyPenalty: Float
    /// Seed of the random draw; nil seeds from the system's generator.
    public var seed: UInt64?

    /// Creates parameters; the defaults are OpenAI's (temperature 1, nothing filtered).
    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
                presencePenalty: Float = 0, frequencyPenalty: Float = 0, seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.seed = seed
    }

    /// Greedy decoding: always the most likely token.
    public static let greedy = SamplingParameters(temperature: 0)
}

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

    /// llama.cpp's defaults, which llama-server and Ollama apply too: temperature 0.8, top-k 40,
    /// top-p 0.95, min-p 0.05. They keep small models coherent where OpenAI's (temperature 1, nothing
    /// filtered) let them wander; Skiff falls back to them when neither the request, the server's
    /// settings nor the model file names a setting.
    public static let llamaCppDefaults = SamplingParameters(temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05)
}

/// The sampling settings one source names: a model file's recommendation, a server's flags or a
/// request. A setting left nil falls through to the source below, in the order request, server
/// settings, model file, ``SamplingParameters/llamaCppDefaults``.
public struct SamplingOverrides: Sendable, Equatable, CustomStringConvertible {
    /// Softmax temperature; 0 selects greedy decoding.
    public var temperature: Float?
    /// Keep only the `topK` most likely tokens (0 disables).
    public var topK: Int?
    /// Nucleus threshold (1 disables).
    public var topP: Float?
    /// Relative probability floor (0 disables).
    public var minP: Float?
    /// OpenAI `presence_penalty`.
    public var presencePenalty: Float?
    /// OpenAI `frequency_penalty`.
    public var frequencyPenalty: Float?

    /// Creates overrides; settings left nil are not overridden.
    public init(temperature: Float? = nil, topK: Int? = nil, topP: Float? = nil, minP: Float? = nil,
                presencePenalty: Float? = nil, frequencyPenalty: Float? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
    }

    /// `base` with every setting named here put in its place (the seed is kept).
    public func applied(to base: SamplingParameters) -> SamplingParameters {
        var result = base
        if let temperature { result.temperature = temperature }
        if let topK { result.topK = topK }
        if let topP { result.topP = topP }
        if let minP { result.minP = minP }
        if let presencePenalty { result.presencePenalty = presencePenalty }
        if let frequencyPenalty { result.frequencyPenalty = frequencyPenalty }
        return result
    }

    /// The named settings as `name=value` pairs by their OpenAI field names, or `none`.
    public var description: String {
        let named: [(String, String?)] = [
            ("temperature", temperature.map { "\($0)" }), ("top_k", topK.map { "\($0)" }), ("top_p", topP.map { "\($0)" }),
            ("min_p", minP.map { "\($0)" }), ("presence_penalty", presencePenalty.map { "\($0)" }),
            ("frequency_penalty", frequencyPenalty.map { "\($0)" }),
        ]
        let pairs = named.compactMap { name, value in value.map { "\(name)=\($0)" } }
        return pairs.isEmpty ? "none" : pairs.joined(separator: " ")
    }

    /// The first range problem of these settings as (setting name, what it must be), nil when all are
    /// in the ranges OpenAI and vLLM accept. Names are the OpenAI field names.
    public func rangeProblem() -> (name: String, requirement: String)? {
        if let temperature, !(0 ... 2).contains(temperature) { return ("temperature", "between 0 and 2") }
        if let topK, topK < 0 { return ("top_k", "0 (disabled) or a positive number") }
        if let topP, !(topP > 0 && topP <= 1) { return ("top_p", "in (0, 1]") }
        if let minP, !(0 ... 1).contains(minP) { return ("min_p", "in [0, 1]") }
        if let presencePenalty, !(-2 ... 2).contains(presencePenalty) { return ("presence_penalty", "between -2 and 2") }
        if let frequencyPenalty, !(-2 ... 2).contains(frequencyPenalty) { return ("frequency_penalty", "between -2 and 2") }
        return nil
    }
}

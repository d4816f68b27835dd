import SkiffEngine
import SkiffModelFile

// The response bodies of the OpenAI endpoints. Fields OpenAI documents as nullable are written as
// `null` rather than left out, since some clients require them.

/// Token counts, exact: from the engine's `GenerationUsage`.
struct Usage: Encodable, Sendable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int
    var promptTokensDetails: Details

    struct Details: Encodable, Sendable {
        var cachedTokens: Int
        enum CodingKeys: String, CodingKey { case cachedTokens = "cached_tokens" }
    }

    init(_ usage: GenerationUsage) {
        promptTokens = usage.promptTokens
        completionTokens = usage.completionTokens
        totalTokens = usage.promptTokens + usage.completionTokens
        promptTokensDetails = Details(cachedTokens: usage.cachedPromptTokens)
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case promptTokensDetails = "prompt_tokens_details"
    }
}

/// One choice of a chat or text completion, whole or as a stream chunk.
struct Choice: Encodable, Sendable {
    enum Content: Sendable {
        /// `message` of a chat completion.
        case message(String)
        /// `delta` of a chat chunk: the role (first chunk only) and new text, either may be absent.
        case delta(role: Bool, text: String?)
        /// `text` of a text completion or its chunk.
        case text(String)
    }

    var content: Content
    var finishReason: FinishReason?
    var logprobs: ChoiceLogprobs? = nil

    private enum CodingKeys: String, CodingKey {
        case index, message, delta, text, logprobs
        case finishReason = "finish_reason"
    }

    private enum MessageKeys: String, CodingKey { case role, content }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(0, forKey: .index)
        switch content {
        case .message(let text):
            var m = c.nestedContainer(keyedBy: MessageKeys.self, forKey: .message)
            try m.encode("assistant", forKey: .role)
            try m.encode(text, forKey: .content)
        case .delta(let role, let text):
            var m = c.nestedContainer(keyedBy: MessageKeys.self, forKey: .delta)
            if role { try m.encode("assistant", forKey: .role) }
            if let text { try m.encode(text, forKey: .content) }
        case .text(let text):
            try c.encode(text, forKey: .text)
        }
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason?.rawValue, forKey: .finishReason)
    }
}

/// A completion or one chunk of a streamed completion (`object` tells which).
struct CompletionBody: Encodable, Sendable {
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [Choice]
    /// Written when `usage` is set or, in a stream with `include_usage`, as `null` on the other chunks.
    var usage: Usage?
    var writesUsage: Bool

    private enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        if writesUsage || usage != nil { try c.encode(usage, forKey: .usage) }
    }
}

/// `GET /v1/models`.
struct ModelList: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "skiff"
        var maxModelLength: Int
        /// What a request that names no sampling setting gets (a Skiff extension, like vLLM's `max_model_len`).
        var samplingDefaults: SamplingDefaults

        enum CodingKeys: String, CodingKey {
            case id, object, created
            case ownedBy = "owned_by", maxModelLength = "max_model_len", samplingDefaults = "sampling_defaults"
        }
    }

    /// The sampling settings in force, by their OpenAI (and vLLM) request field names.
    struct SamplingDefaults: Encodable, Sendable {
        var temperature: Float
        var topK: Int
        var topP: Float
        var minP: Float
        var presencePenalty: Float
        var frequencyPenalty: Float

        init(_ parameters: SamplingParameters) {
            temperature = parameters.temperature
            topK = parameters.topK
            topP = parameters.topP
            minP = parameters.minP
            presencePenalty = parameters.presencePenalty
            frequencyPenalty = parameters.frequencyPenalty
        }

        enum CodingKeys: String, CodingKey {
            case temperature, topK = "top_k", topP = "top_p", minP = "min_p"
            case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        }
    }

    var object = "list"
    var data: [Model]
}

/// `POST /tokenize`.
struct TokenizeResponse: Encodable, Sendable {
    var tokens: [Int32]
    var count: Int
    var maxModelLength: Int

    enum CodingKeys: String, CodingKey {
        case tokens, count
        case maxModelLength = "max_model_len"
    }
}

/// `POST /detokenize`.
struct DetokenizeResponse: Encodable, Sendable {
    var prompt: String
}

/// `GET /version`.
struct VersionResponse: Encodable, Sendable {
    var version: String
}

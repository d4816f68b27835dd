import SkiffEngine
import SkiffModelFile
import SkiffToolCalling

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
        /// `message` of a chat completion that called tools: its text (null when none) and the calls.
        case toolCalls(content: String?, calls: [ToolCall])
        /// `delta` of a chat chunk carrying a call's start (id, type and name) or a fragment of its arguments.
        case toolCallDelta(index: Int, id: String?, name: String?, arguments: String)
    }

    var content: Content
    /// `stop`, `length`, or `tool_calls` when the answer is tool calls.
    var finishReason: String?
    var logprobs: ChoiceLogprobs? = nil

    init(content: Content, finishReason: FinishReason?, logprobs: ChoiceLogprobs? = nil) {
        self.content = content
        self.finishReason = finishReason?.rawValue
        self.logprobs = logprobs
    }

    init(content: Content, finish: String?) {
        self.content = content
        finishReason = finish
    }

    private enum CodingKeys: String, CodingKey {
        case index, message, delta, text, logprobs
        case finishReason = "finish_reason"
    }

    private enum MessageKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }
    private enum CallKeys: String, CodingKey { case index, id, type, function }
    private enum FunctionKeys: String, CodingKey { case name, arguments }

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
        case .toolCalls(let text, let calls):
            var m = c.nestedContainer(keyedBy: MessageKeys.self, forKey: .message)
            try m.encode("assistant", forKey: .role)
            try m.encode(text, forKey: .content)
            var list = m.nestedUnkeyedContainer(forKey: .toolCalls)
            for call in calls {
                var entry = list.nestedContainer(keyedBy: CallKeys.self)
                try entry.encode(call.id, forKey: .id)
                try entry.encode("function", forKey: .type)
                var function = entry.nestedContainer(keyedBy: FunctionKeys.self, forKey: .function)
                try function.encode(call.name, forKey: .name)
                try function.encode(call.arguments, forKey: .arguments)
            }
        case .toolCallDelta(let index, let id, let name, let arguments):
            var m = c.nestedContainer(keyedBy: MessageKeys.self, forKey: .delta)
            var list = m.nestedUnkeyedContainer(forKey: .toolCalls)
            var entry = list.nestedContainer(keyedBy: CallKeys.self)
            try entry.encode(index, forKey: .index)
            if let id {
                try entry.encode(id, forKey: .id)
                try entry.encode("function", forKey: .type)
            }
            var function = entry.nestedContainer(keyedBy: FunctionKeys.self, forKey: .function)
            if let name { try function.encode(name, forKey: .name) }
            try function.encode(arguments, forKey: .arguments)
        }
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)
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

import Foundation
import SkiffChatTemplate
import SkiffEngine
import SkiffGrammar
import SkiffJSON
import SkiffModelFile

// The request bodies of the OpenAI endpoints, decoded and checked. Fields with the wrong type or an
// unsupported value are refused with a message that names the field; which fields a completion request
// may carry besides those decoded here is decided in RequestFields.swift.

/// Options chat and text completions share: the model, sampling, limits and streaming.
struct GenerationOptions: Decodable, Sendable {
    var model: String?
    var maxTokens: Int?
    var temperature: Float?
    var topP: Double?
    var topK: Int?
    var minP: Float?
    var seed: Int64?
    var stop: [String]
    var presencePenalty: Float?
    var frequencyPenalty: Float?
    var stream: Bool
    var includeUsage: Bool
    /// Generate at least this many tokens before an end-of-turn token may end the answer (vLLM's `min_tokens`).
    var minTokens: Int
    /// Never end at an end-of-turn token (vLLM's and llama.cpp's `ignore_eos`, used by benchmarks).
    var ignoreEOS: Bool
    /// How many alternatives to report per token when log-probabilities are asked for; nil when not.
    var logprobs: Int?
    /// What the answer's text must match, and the field that asked for it (read by `ConstraintField` from the
    /// body's text, not by this decoder, so that schemas keep their order).
    var constraint: (field: String, constraint: OutputConstraint)?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, temperature, seed, stop, stream, logprobs
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case topP = "top_p", topK = "top_k", minP = "min_p"
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        case streamOptions = "stream_options", topLogprobs = "top_logprobs"
        case minTokens = "min_tokens", ignoreEOS = "ignore_eos"
    }

    struct StreamOptions: Decodable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey, CaseIterable { case includeUsage = "include_usage" }

        init(from decoder: any Decoder) throws {
            try RequestFieldPolicy.streamOptions.check(decoder)
            includeUsage = try decoder.container(keyedBy: CodingKeys.self).field(Bool.self, .includeUsage)
        }
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.field(String.self, .model)
        // Both limits are read and checked, so that one is never ignored unseen; max_completion_tokens wins.
        let maxCompletionTokens = try c.field(Int.self, .maxCompletionTokens)
        let legacyMaxTokens = try c.field(Int.self, .maxTokens)
        for (limit, name) in [(maxCompletionTokens, "max_completion_tokens"), (legacyMaxTokens, "max_tokens")] {
            if let limit, limit < 1 { throw APIError.invalidRequest("\(name) must be at least 1.", param: name) }
        }
        maxTokens = maxCompletionTokens ?? legacyMaxTokens
        temperature = try c.field(Double.self, .temperature).map(Float.init(keepingSideOf:))
        topP = try c.field(Double.self, .topP)
        topK = try c.field(Int.self, .topK)
        minP = try c.field(Double.self, .minP).map(Float.init(keepingSideOf:))
        seed = try c.field(Int64.self, .seed)
        presencePenalty = try c.field(Double.self, .presencePenalty).map(Float.init(keepingSideOf:))
        frequencyPenalty = try c.field(Double.self, .frequencyPenalty).map(Float.init(keepingSideOf:))
        stream = try c.field(Bool.self, .stream) ?? false
        includeUsage = try c.field(StreamOptions.self, .streamOptions)?.includeUsage ?? false
        stop = try c.decodeIfPresent(OneOrMany<String>.self, forKey: .stop)?.values ?? []

        minTokens = try c.field(Int.self, .minTokens) ?? 0
        ignoreEOS = try c.field(Bool.self, .ignoreEOS) ?? false
        // `logprobs` is a bool for chat (with `top_logprobs` alternatives) and a count of alternatives for
        // text completions.
        let topLogprobs = try c.field(Int.self, .topLogprobs)
        if let topLogprobs, !(0 ... Self.maxLogprobs).contains(topLogprobs) {
            throw APIError.invalidRequest("top_logprobs must be between 0 and \(Self.maxLogprobs).", param: "top_logprobs")
        }
        if let flag = try? c.decodeIfPresent(Bool.self, forKey: .logprobs) {
            logprobs = flag ? topLogprobs ?? 0 : nil
            if !flag, let topLogprobs, topLogprobs > 0 {
                throw APIError.invalidRequest("top_logprobs requires logprobs to be true.", param: "top_logprobs")
            }
        } else if let count = try? c.decodeIfPresent(Int.self, forKey: .logprobs) {
            logprobs = count
        } else if c.contains(.logprobs), try !c.decodeNil(forKey: .logprobs) {
            throw APIError.invalidRequest("logprobs must be a boolean (chat) or an integer (completions).", param: "logprobs")
        } else {
            if let topLogprobs, topLogprobs > 0 {
                throw APIError.invalidRequest("top_logprobs requires logprobs to be true.", param: "top_logprobs")
            }
            logprobs = nil
        }
        if let logprobs, !(0 ... Self.maxLogprobs).contains(logprobs) {
            throw APIError.invalidRequest("logprobs alternatives must be between 0 and \(Self.maxLogprobs).",
                                          param: c.contains(.topLogprobs) ? "top_logprobs" : "logprobs")
        }
    }

    /// The most alternatives reported per token (vLLM's default `max_logprobs`).
    static let maxLogprobs = 20

    /// The sampling settings the request names, checked against the ranges OpenAI and vLLM accept.
    func samplingOverrides() throws(APIError) -> SamplingOverrides {
        if let topK, topK < -1 { throw .invalidRequest("top_k must be -1 or 0 (disabled) or a positive number.", param: "top_k") }
        let overrides = SamplingOverrides(
            temperature: temperature, topK: topK.map { max($0, 0) }, topP: topP.map { max(Float($0), .leastNormalMagnitude) },
            minP: minP, presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty)
        if let topP, !(topP > 0 && topP <= 1) { throw .invalidRequest("top_p must be in (0, 1].", param: "top_p") }
        if let (name, requirement) = overrides.rangeProblem() {
            throw .invalidRequest("\(name) must be \(requirement).", param: name)
        }
        return overrides
    }

    /// The sampling parameters: what the request names over `defaults` (the server's settings in force).
    func samplingParameters(defaults: SamplingParameters) throws(APIError) -> SamplingParameters {
        var parameters = try samplingOverrides().applied(to: defaults)
        parameters.seed = seed.map { UInt64(bitPattern: $0) }
        return parameters
    }

    /// Checks the fields that do not depend on the prompt.
    func validate() throws(APIError) {
        guard stop.count <= 16 else { throw .invalidRequest("stop takes at most 16 sequences.", param: "stop") }
        guard minTokens >= 0 else { throw .invalidRequest("min_tokens must be 0 or more.", param: "min_tokens") }

        _ = try samplingOverrides()
    }
}

/// `POST /v1/chat/completions`.
struct ChatCompletionRequest: Decodable, Sendable {
    var messages: [ChatMessage]
    var options: GenerationOptions

    enum CodingKeys: String, CodingKey, CaseIterable { case messages }

    init(from decoder: any Decoder) throws {
        try RequestFieldPolicy.chatCompletion.check(decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        messages = try c.decode([MessageInput].self, forKey: .messages).map(\.message)
        guard !messages.isEmpty else { throw APIError.invalidRequest("messages must contain at least one message.", param: "messages") }
        options = try GenerationOptions(from: decoder)
        try options.validate()
    }
}

/// `POST /v1/completions`.
struct CompletionRequest: Decodable, Sendable {
    var prompt: Prompt
    var options: GenerationOptions

    /// A completion prompt: text to tokenize, or token ids as they are.
    enum Prompt: Sendable {
        case text(String)
        case tokens([Int32])
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case prompt }

    init(from decoder: any Decoder) throws {
        try RequestFieldPolicy.textCompletion.check(decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let text = try? c.decode(String.self, forKey: .prompt) {
            prompt = .text(text)
        } else if let texts = try? c.decode([String].self, forKey: .prompt) {
            guard texts.count == 1 else {
                throw APIError.invalidRequest("A list of \(texts.count) prompts is not supported yet (batch prompts, like n>1); send one prompt per request.", param: "prompt")
            }
            prompt = .text(texts[0])
        } else if let tokens = try? c.decode([Int32].self, forKey: .prompt) {
            prompt = .tokens(tokens)
        } else if let lists = try? c.decode([[Int32]].self, forKey: .prompt) {
            guard lists.count == 1 else {
                throw APIError.invalidRequest("A list of \(lists.count) prompts is not supported yet (batch prompts, like n>1); send one prompt per request.", param: "prompt")
            }
            prompt = .tokens(lists[0])
        } else if c.contains(.prompt) {
            throw APIError.invalidRequest("prompt must be a string, a list of one string, or a list of token ids.", param: "prompt")
        } else {
            throw APIError.invalidRequest("prompt is required.", param: "prompt")
        }
        options = try GenerationOptions(from: decoder)
        try options.validate()
    }
}

/// `POST /tokenize`: a prompt or a conversation.
struct TokenizeRequest: Decodable, Sendable {
    var model: String?
    var prompt: String?
    var messages: [ChatMessage]?
    var addSpecial: Bool?
    var addGenerationPrompt: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, prompt, messages
        case addSpecial = "add_special", addSpecialTokens = "add_special_tokens", addGenerationPrompt = "add_generation_prompt"
    }

    init(from decoder: any Decoder) throws {
        try RequestFieldPolicy.tokenize.check(decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt)
        messages = try c.decodeIfPresent([MessageInput].self, forKey: .messages)?.map(\.message)
        let vLLMAddSpecial = try c.decodeIfPresent(Bool.self, forKey: .addSpecialTokens)
        addSpecial = try c.decodeIfPresent(Bool.self, forKey: .addSpecial) ?? vLLMAddSpecial
        addGenerationPrompt = try c.decodeIfPresent(Bool.self, forKey: .addGenerationPrompt)
        guard (prompt == nil) != (messages == nil) else {
            throw APIError.invalidRequest("Send exactly one of prompt or messages.", param: prompt == nil ? "prompt" : "messages")
        }
        if messages?.isEmpty == true {
            throw APIError.invalidRequest("messages must contain at least one message.", param: "messages")
        }
    }
}

/// `POST /detokenize`.
struct DetokenizeRequest: Decodable, Sendable {
    var model: String?
    var tokens: [Int32]

    enum CodingKeys: String, CodingKey, CaseIterable { case model, tokens }

    init(from decoder: any Decoder) throws {
        try RequestFieldPolicy.detokenize.check(decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        tokens = try c.decode([Int32].self, forKey: .tokens)
    }
}

/// One chat message as OpenAI sends it: `content` is a string, a list of text parts, or null; an assistant message
/// may carry the `tool_calls` it made, a tool message the `tool_call_id` it answers.
struct MessageInput: Decodable {
    var message: ChatMessage

    enum CodingKeys: String, CodingKey, CaseIterable { case role, content, toolCalls = "tool_calls", toolCallID = "tool_call_id" }

    struct Part: Decodable {
        var type: String
        var text: String?
    }

    /// `{"id", "type": "function", "function": {"name", "arguments"}}`.
    struct ToolCallInput: Decodable {
        struct Function: Decodable {
            var name: String
            var arguments: String
        }

        var id: String
        var type: String
        var function: Function
    }

    init(from decoder: any Decoder) throws {
        try RequestFieldPolicy.message.check(decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let role = try c.decode(String.self, forKey: .role)
        let content: String
        if try !c.contains(.content) || c.decodeNil(forKey: .content) {
            content = ""
        } else if let text = try? c.decode(String.self, forKey: .content) {
            content = text
        } else if let parts = try? c.decode([Part].self, forKey: .content) {
            content = try parts.map { part in
                guard part.type == "text", let text = part.text else {
                    throw APIError.invalidRequest("Only text content parts are supported (got a part of type '\(part.type)').", param: "messages")
                }
                return text
            }.joined()
        } else {
            throw APIError.invalidRequest("messages[].content must be a string or a list of text parts.", param: "messages")
        }
        let calls = try c.field([ToolCallInput].self, .toolCalls) ?? []
        for call in calls where call.type != "function" {
            throw APIError.invalidRequest("A tool call's type must be \"function\", not '\(call.type)'.", param: "messages")
        }
        let toolCallID = try c.field(String.self, .toolCallID)
        message = ChatMessage(role: role, content: content, toolCalls: calls.map { call in
            ChatToolCall(id: call.id, name: call.function.name,
                         arguments: (try? JSONValue(parsing: call.function.arguments)).flatMap { $0.objectValue == nil ? nil : $0 }
                             ?? .string(call.function.arguments))
        }, toolCallID: toolCallID)
    }
}

/// A field OpenAI accepts as one value or a list of them (`stop`).
struct OneOrMany<Element: Decodable>: Decodable {
    var values: [Element]

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(Element.self) {
            values = [one]
        } else {
            values = try c.decode([Element].self)
        }
    }
}

extension KeyedDecodingContainer {
    /// The field's value if present and not null; a value of the wrong type or out of range is a 400
    /// naming the field (Foundation reports some of these without the field's path).
    func field<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        do {
            return try decodeIfPresent(T.self, forKey: key)
        } catch let error as APIError {
            throw error
        } catch {
            let name = (codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw APIError.invalidRequest("'\(name)' has the wrong type or is out of range: expected \(typeName(T.self)).", param: name)
        }
    }
}

/// Decodes a request body, turning every decoding failure into a 400 that names the field.
func decodeBody<Body: Decodable>(_ type: Body.Type, from data: Data) throws(APIError) -> Body {
    do {
        return try JSONDecoder().decode(Body.self, from: data)
    } catch let error as APIError {
        throw error
    } catch let DecodingError.typeMismatch(expected, context) {
        let field = fieldName(context.codingPath)
        throw .invalidRequest("'\(field)' has the wrong type: expected \(typeName(expected)).", param: field)
    } catch let DecodingError.valueNotFound(expected, context) {
        let field = fieldName(context.codingPath)
        throw .invalidRequest("'\(field)' must not be null: expected \(typeName(expected)).", param: field)
    } catch let DecodingError.keyNotFound(key, context) {
        let field = fieldName(context.codingPath + [key])
        throw .invalidRequest("'\(field)' is required.", param: field)
    } catch let DecodingError.dataCorrupted(context) {
        if context.codingPath.isEmpty {
            // Foundation reports a number too large for its field without a path; tell that apart from bad syntax.
            if (try? JSONSerialization.jsonObject(with: data)) != nil {
                throw .invalidRequest("A value in the request body is out of range for its field (for example a number too large).")
            }
            throw .invalidRequest("The request body is not valid JSON.")
        }
        let field = fieldName(context.codingPath)
        throw .invalidRequest("'\(field)' has an invalid value (for example a number out of range).", param: field)
    } catch {
        throw .invalidRequest("The request body could not be read.")
    }
}

/// A field's path as `param` names it: `messages[0].role`, `stream_options.include_usage`.
func fieldName(_ path: [any CodingKey]) -> String {
    var name = ""
    for key in path {
        if let index = key.intValue {
            name += "[\(index)]"
        } else {
            name += name.isEmpty ? key.stringValue : ".\(key.stringValue)"
        }
    }
    return name.isEmpty ? "body" : name
}

func typeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Bool.Type: return "a boolean"
    case is Int.Type, is Int32.Type, is Int64.Type: return "an integer"
    case is Float.Type, is Double.Type: return "a number"
    case is [Any].Type: return "a list"
    default: return "an object"
    }
}

extension Float {
    /// `value` as a float on the same side as `value` of every float: rounded up when the nearest float is below it,
    /// down when above. The sampling settings' range checks are on floats, and `Float(2.0000000000000004)` is 2,
    /// so a value just past a bound would pass them.
    init(keepingSideOf value: Double) {
        let nearest = Float(value)
        self = Double(nearest) < value ? nearest.nextUp : Double(nearest) > value ? nearest.nextDown : nearest
    }
}

/// The JSON of `POST /chat/completions` with `stream: true`.
struct ChatCompletionRequestBody: Encodable {
    struct Message: Encodable {
        var role: String
        var content: String
    }

    struct StreamOptions: Encodable {
        var includeUsage = true
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    var model: String
    var messages: [Message]
    var stream = true
    var streamOptions = StreamOptions()
    var temperature: Double?
    var maxTokens: Int?

    enum CodingKeys: String, CodingKey {
        case model, messages, stream, temperature
        case streamOptions = "stream_options"
        case maxTokens = "max_tokens"
    }
}

/// One `data:` event of a streamed chat completion (only what the chat reads).
struct ChatCompletionChunk: Decodable {
    struct Choice: Decodable {
        struct Delta: Decodable {
            var content: String?
        }

        var delta: Delta?
        var finishReason: String?

        enum CodingKeys: String, CodingKey {
            case delta
            case finishReason = "finish_reason"
        }
    }

    var model: String?
    var choices: [Choice]?
    var usage: Usage?
    var error: ErrorBody?
}

struct Usage: Decodable {
    var promptTokens: Int?
    var completionTokens: Int?

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
    }
}

struct ErrorBody: Decodable {
    var message: String?
    var type: String?
    var code: String?

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        message = try? container.decodeIfPresent(String.self, forKey: .message)
        type = try? container.decodeIfPresent(String.self, forKey: .type)
        // vLLM sends a numeric code, OpenAI and skiff a string.
        if let text = try? container.decodeIfPresent(String.self, forKey: .code) {
            code = text
        } else if let number = try? container.decodeIfPresent(Int.self, forKey: .code) {
            code = String(number)
        }
    }

    enum CodingKeys: String, CodingKey { case message, type, code }
}

/// `{"error": {...}}`, the body of an OpenAI error response.
struct ErrorEnvelope: Decodable {
    var error: ErrorBody
}

/// `GET /models`.
struct ModelList: Decodable {
    struct Model: Decodable {
        var id: String
        /// vLLM's and skiff's extension: the longest sequence (prompt plus answer) the model takes.
        var maxModelLength: Int?

        enum CodingKeys: String, CodingKey {
            case id
            case maxModelLength = "max_model_len"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            maxModelLength = try? c.decodeIfPresent(Int.self, forKey: .maxModelLength)
        }
    }

    var data: [Model]
}

/// `POST /tokenize` with a conversation (vLLM's and skiff's tokenizer endpoint, beside `/v1`).
struct TokenizeRequestBody: Encodable {
    var model: String
    var messages: [ChatCompletionRequestBody.Message]
    var addGenerationPrompt = true

    enum CodingKeys: String, CodingKey {
        case model, messages
        case addGenerationPrompt = "add_generation_prompt"
    }
}

/// The answer of `POST /tokenize` (only what the chat reads).
struct TokenizeResponseBody: Decodable {
    var count: Int
}

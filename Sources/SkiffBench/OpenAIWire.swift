import Foundation
import SkiffJSON

/// The JSON body of a streamed `POST /chat/completions` or `POST /completions`.
struct CompletionRequestBody: Encodable {
    struct Message: Encodable {
        var role: String
        var content: String
    }

    struct StreamOptions: Encodable {
        var includeUsage = true
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    var model: String
    var messages: [Message]?
    var prompt: String?
    var maxTokens: Int
    var temperature: Double
    var stream = true
    var streamOptions = StreamOptions()
    /// llama.cpp and vLLM: keep generating past end-of-sequence. OpenAI ignores it.
    var ignoreEOS: Bool?
    /// vLLM: generate at least this many tokens. llama.cpp and OpenAI ignore it.
    var minTokens: Int?
    /// OpenAI's structured output: `{"type": "json_schema", "json_schema": {"name", "schema"}}`.
    var responseFormat: JSONValue?

    enum CodingKeys: String, CodingKey {
        case model, messages, prompt, temperature, stream
        case maxTokens = "max_tokens", streamOptions = "stream_options", ignoreEOS = "ignore_eos", minTokens = "min_tokens"
        case responseFormat = "response_format"
    }

    /// The body for `prompt` on `api`.
    init(prompt: BenchPrompt, api: CompletionAPI, settings: RequestSettings) {
        model = settings.model
        switch api {
        case .chat:
            messages = (prompt.system.map { [Message(role: "system", content: $0)] } ?? [])
                + [Message(role: "user", content: prompt.prompt)]
        case .completions:
            self.prompt = prompt.system.map { $0 + "\n\n" + prompt.prompt } ?? prompt.prompt
        }
        maxTokens = prompt.maxTokens
        temperature = settings.temperature
        if settings.ignoreEOS {
            ignoreEOS = true
            minTokens = prompt.maxTokens
        }
        if let schema = settings.jsonSchema {
            responseFormat = ["type": "json_schema", "json_schema": ["name": "bench", "schema": schema]]
        }
    }
}

/// The fields of one streamed chunk that a benchmark needs, for both chat (`delta.content`) and
/// text (`text`) completions; an `error` object in place of a chunk is a failure mid-stream.
struct StreamChunk: Decodable {
    struct Choice: Decodable {
        struct Delta: Decodable {
            var content: String?
            var reasoningContent: String?
            enum CodingKeys: String, CodingKey { case content, reasoningContent = "reasoning_content" }
        }
        var delta: Delta?
        var text: String?
    }

    struct Usage: Decodable {
        var promptTokens: Int?
        var completionTokens: Int?
        enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens" }
    }

    var choices: [Choice]?
    var usage: Usage?
    var error: APIErrorMessage?

    /// Whether the chunk carries generated text (reasoning text counts: it is generated tokens too).
    var hasContent: Bool {
        (choices ?? []).contains { choice in
            !(choice.text ?? "").isEmpty || !(choice.delta?.content ?? "").isEmpty
                || !(choice.delta?.reasoningContent ?? "").isEmpty
        }
    }
}

/// The message of an OpenAI-style error, `{"error": {"message": "…"}}` or `{"error": "…"}`.
struct APIErrorMessage: Decodable {
    var message: String

    private enum CodingKeys: String, CodingKey { case message }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: CodingKeys.self) {
            message = try object.decode(String.self, forKey: .message)
        } else {
            message = try decoder.singleValueContainer().decode(String.self)
        }
    }

    /// The error message in an error response's body, or the start of the body as text.
    static func describe(body: [UInt8]) -> String {
        struct Envelope: Decodable { var error: APIErrorMessage }
        if let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(body)) {
            return envelope.error.message
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "(empty body)" : text
    }
}

/// The answer to `GET /models`.
struct ModelList: Decodable {
    struct Model: Decodable {
        var id: String
    }
    var data: [Model]
}

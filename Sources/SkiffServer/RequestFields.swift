import Foundation
import SkiffJSON

// Which request fields Skiff implements, which it accepts and ignores, and which it refuses: the one place
// that decides, for the completion endpoints' bodies, their messages and their stream options.
//
// A field Skiff does not implement is refused with 400 naming it, unless its value asks for what Skiff
// does anyway (`n: 1`, `tools: []`, `tool_choice: "none"`; `null` always does), so that no answer is a
// 200 that silently ignores what the client asked for. Fields that change nothing about the answer
// (`user`, `metadata`, `store`...) are accepted and ignored. A field Skiff does not know at all is refused
// too, as OpenAI refuses it: Skiff cannot tell whether ignoring it would change the answer.

/// A field of a request object that Skiff does not implement, and what it does when a request carries one.
struct UnimplementedField: Sendable {
    enum Handling: Sendable {
        /// Accepted whatever its value and ignored, because it changes nothing about the answer.
        case ignored
        /// Refused with 400 unless the value is `null` or one of these, which ask for what Skiff does anyway.
        case refused(accepting: [JSONValue])
    }

    /// The field's name in the JSON object.
    var name: String
    var handling: Handling
    /// For an ignored field, why it changes nothing; for a refused one, what Skiff lacks and what the
    /// client can do instead (a sentence of the error message).
    var reason: String

    static func ignored(_ name: String, _ reason: String) -> UnimplementedField {
        UnimplementedField(name: name, handling: .ignored, reason: reason)
    }

    static func refused(_ name: String, accepting values: [JSONValue] = [], _ reason: String) -> UnimplementedField {
        UnimplementedField(name: name, handling: .refused(accepting: values), reason: reason)
    }

    /// Whether `value` asks for nothing Skiff does not do.
    func accepts(_ value: JSONValue?) -> Bool {
        switch handling {
        case .ignored: true
        case .refused(let values): value == JSONValue.null || value.map(values.contains) == true
        }
    }
}

extension UnimplementedField {
    /// Top-level fields of `/v1/chat/completions` and `/v1/completions` bodies (OpenAI's and vLLM's).
    static let requestFields: [UnimplementedField] = [
        // Accepted and ignored: they change nothing about the answer.
        .ignored("user", "It identifies the end user to OpenAI's abuse monitoring."),
        .ignored("safety_identifier", "It identifies the end user to OpenAI's abuse monitoring."),
        .ignored("metadata", "It tags a completion OpenAI stores; Skiff stores none."),
        .ignored("store", "It asks OpenAI to keep the completion; Skiff keeps none."),
        .ignored("service_tier", "It picks OpenAI's processing tier; Skiff has one."),
        .ignored("prompt_cache_key", "It steers OpenAI's prompt cache; Skiff's prefix cache finds shared prefixes by itself."),
        .ignored("prompt_cache_retention", "It steers OpenAI's prompt cache; Skiff's prefix cache finds shared prefixes by itself."),
        .ignored("prediction", "A predicted output only makes OpenAI faster; the answer is the same."),
        .ignored("parallel_tool_calls", "It only matters with tools, which only chat completions take."),

        // OpenAI fields Skiff does not implement.
        .refused("n", accepting: [1],
                 "This server returns one choice per request; omit n or set it to 1, and send several requests for several answers."),
        .refused("best_of", accepting: [1], "This server generates one candidate per request; omit best_of or set it to 1."),
        .refused("echo", accepting: [false], "This server does not repeat the prompt in the answer; omit echo or set it to false."),
        .refused("suffix", accepting: [""], "This server does not fill in text before a suffix; omit suffix or send an empty string."),
        // Implemented for chat completions (ToolFields); a text completion has no tools.
        .refused("tools", accepting: [[]], "Tools are for /v1/chat/completions; a text completion cannot call them (an empty list is accepted)."),
        .refused("tool_choice", accepting: ["none"], "Tools are for /v1/chat/completions; remove tool_choice or send \"none\"."),
        .refused("functions", accepting: [[]], "Skiff does not implement function calling; remove functions."),
        .refused("function_call", accepting: ["none", "auto"],
                 "Skiff does not implement function calling; remove function_call or send \"none\"."),
        .refused("logit_bias", accepting: [[:]], "Skiff does not implement logit bias yet; remove logit_bias (an empty object is accepted)."),
        .refused("modalities", accepting: [["text"]], "Skiff answers with text only; omit modalities or send [\"text\"]."),
        .refused("audio", "Skiff answers with text only; remove audio."),
        .refused("reasoning_effort", "The served model has no adjustable reasoning; remove reasoning_effort."),
        .refused("verbosity", "The served model's answer length cannot be steered; remove verbosity (max_tokens bounds it)."),
        .refused("web_search_options", "Skiff does not search the web; remove web_search_options."),

        // vLLM's extensions Skiff does not implement (top_k, min_p, min_tokens and ignore_eos it does).
        .refused("repetition_penalty", accepting: [1],
                 "Skiff implements presence_penalty and frequency_penalty, not repetition_penalty; omit it or set it to 1."),
        .refused("use_beam_search", accepting: [false], "Skiff has no beam search; omit use_beam_search or set it to false."),
        .refused("stop_token_ids", accepting: [[]],
                 "Skiff stops at the stop strings and the model's end-of-turn tokens only; remove stop_token_ids."),
        .refused("include_stop_str_in_output", accepting: [false],
                 "A stop string is never part of the answer here; omit include_stop_str_in_output or set it to false."),
        .refused("skip_special_tokens", accepting: [true],
                 "Control tokens are always left out of the answer here; omit skip_special_tokens or set it to true."),
        .refused("prompt_logprobs", "Skiff reports log-probabilities of generated tokens only; remove prompt_logprobs."),
        .refused("allowed_token_ids", "Skiff does not restrict the tokens a model may choose; remove allowed_token_ids."),
        .refused("bad_words", accepting: [[]], "Skiff does not ban words; remove bad_words."),
        .refused("chat_template", "The model's own chat template renders every conversation; remove chat_template."),
        .refused("chat_template_kwargs", accepting: [[:]],
                 "The chat template is given only the messages; remove chat_template_kwargs."),
        .refused("add_generation_prompt", accepting: [true],
                 "A chat prompt always ends by opening the assistant's turn; omit add_generation_prompt or use /v1/completions."),
        .refused("continue_final_message", accepting: [false],
                 "A chat prompt always opens a new assistant turn; omit continue_final_message or use /v1/completions."),
        .refused("truncate_prompt_tokens", "Skiff refuses a prompt that is too long rather than cutting it; remove truncate_prompt_tokens."),
        .refused("cache_salt", "Skiff's prefix cache is shared by all requests and cannot be salted; remove cache_salt."),
    ]

    /// Fields of a chat message besides `role` and `content`.
    static let messageFields: [UnimplementedField] = [
        .refused("name", "The chat template is given only each message's role and content; put the name in the content."),
        .refused("function_call", "Skiff does not implement function calling; remove function_call."),
        .refused("refusal", "The chat template is given only each message's role and content; put the refusal in the content."),
        .refused("audio", "Skiff answers with text only; remove audio."),
        .refused("annotations", accepting: [[]], "The chat template is given only each message's role and content; remove annotations."),
    ]

    /// Fields of `stream_options` besides `include_usage`.
    static let streamOptionFields: [UnimplementedField] = [
        .ignored("include_obfuscation", "It pads OpenAI's stream events against length side channels; the answer is the same."),
        .refused("continuous_usage_stats", accepting: [false],
                 "Usage comes in the last chunk only (include_usage); omit continuous_usage_stats or set it to false."),
    ]
}

/// The fields one kind of JSON object may carry: those Skiff implements, and the rest it knows of.
struct RequestFieldPolicy: Sendable {
    let implemented: Set<String>
    let unimplemented: [String: UnimplementedField]

    init(implemented: [String], unimplemented: [UnimplementedField]) {
        self.implemented = Set(implemented)
        self.unimplemented = Dictionary(uniqueKeysWithValues: unimplemented.map { ($0.name, $0) })
    }

    /// Throws a 400 naming the first field (in name order) that is unknown, or unimplemented with a value
    /// other than a no-op. Implemented fields are left to the object's own decoding.
    func check(_ decoder: any Decoder) throws(APIError) {
        guard let object = try? decoder.container(keyedBy: FieldKey.self) else { return }
        for key in object.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !implemented.contains(key.stringValue) {
            let param = fieldName(decoder.codingPath + [key])
            guard let field = unimplemented[key.stringValue] else {
                throw .invalidRequest("Unrecognized request argument supplied: '\(param)'. This server does not know the field, so it "
                                      + "cannot honour it; remove it (docs/openapi.yaml lists the fields it accepts).", param: param)
            }
            let value = try? object.decode(JSONValue.self, forKey: key)
            guard !field.accepts(value) else { continue }
            if let shown = value?.scalarDescription {
                throw .invalidRequest("Unsupported value: '\(param)' does not support \(shown) on this server. \(field.reason)", param: param)
            }
            throw .invalidRequest("Unsupported parameter: '\(param)' is not supported by this server. \(field.reason)", param: param)
        }
    }

    /// Chat completion bodies.
    static let chatCompletion = RequestFieldPolicy(
        implemented: GenerationOptions.CodingKeys.allCases.map(\.stringValue) + ChatCompletionRequest.CodingKeys.allCases.map(\.stringValue)
            + ConstraintField.allCases.map(\.rawValue) + ToolFields.names,
        unimplemented: UnimplementedField.requestFields)

    /// Text completion bodies.
    static let textCompletion = RequestFieldPolicy(
        implemented: GenerationOptions.CodingKeys.allCases.map(\.stringValue) + CompletionRequest.CodingKeys.allCases.map(\.stringValue)
            + ConstraintField.allCases.map(\.rawValue),
        unimplemented: UnimplementedField.requestFields)

    /// One message of a conversation.
    static let message = RequestFieldPolicy(
        implemented: MessageInput.CodingKeys.allCases.map(\.stringValue), unimplemented: UnimplementedField.messageFields)

    /// `/tokenize` bodies: no field beyond those it reads is honoured.
    static let tokenize = RequestFieldPolicy(implemented: TokenizeRequest.CodingKeys.allCases.map(\.stringValue), unimplemented: [])

    /// `/detokenize` bodies.
    static let detokenize = RequestFieldPolicy(implemented: DetokenizeRequest.CodingKeys.allCases.map(\.stringValue), unimplemented: [])

    /// `stream_options`.
    static let streamOptions = RequestFieldPolicy(
        implemented: GenerationOptions.StreamOptions.CodingKeys.allCases.map(\.stringValue),
        unimplemented: UnimplementedField.streamOptionFields)

    private struct FieldKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension JSONValue {
    /// The value as an error message may show it: numbers and booleans only, since strings, lists and
    /// objects may hold prompt text.
    var scalarDescription: String? {
        switch self {
        case .bool, .int, .double: jsonText
        case .null, .string, .array, .object: nil
        }
    }
}

import Foundation
import SkiffJSON

/// Which OpenAI endpoint the requests go to.
public enum CompletionAPI: String, Sendable, CaseIterable {
    /// `POST /chat/completions` with system and user messages.
    case chat
    /// `POST /completions` with one prompt string.
    case completions

    /// The path under the base URL.
    var path: String {
        switch self {
        case .chat: "/chat/completions"
        case .completions: "/completions"
        }
    }
}

/// An OpenAI-compatible server under test: its base URL (the part before `/chat/completions`,
/// usually ending in `/v1`), the API key to send, and the endpoint to load.
public struct BenchTarget: Sendable, Equatable {
    /// The base URL without a trailing slash.
    public var baseURL: String
    /// Sent as `Authorization: Bearer …` when set.
    public var apiKey: String?
    /// The endpoint every request goes to.
    public var api: CompletionAPI

    /// Checks that `url` is an http or https URL with a host.
    public init(url: String, apiKey: String? = nil, api: CompletionAPI = .chat) throws(BenchError) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        guard let parsed = URL(string: base), let scheme = parsed.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = parsed.host, !host.isEmpty else {
            throw BenchError(.invalidURL, """
                '\(url)' is not an http(s) URL; give the server's OpenAI base URL, like http://127.0.0.1:8080/v1
                """)
        }
        baseURL = base
        self.apiKey = apiKey
        self.api = api
    }
}

/// What every request of a run asks for, besides its prompt.
public struct RequestSettings: Sendable, Equatable {
    /// The `model` field.
    public var model: String
    /// The sampling temperature; 0 is greedy.
    public var temperature: Double
    /// Sends `"ignore_eos": true` and `"min_tokens": max_tokens` so that every request generates
    /// exactly `max_tokens` tokens. llama.cpp and vLLM honour this; OpenAI's API ignores both.
    public var ignoreEOS: Bool
    /// The longest a request may take, from sending to the end of its stream.
    public var timeout: Duration
    /// A JSON schema every answer must follow, sent as `response_format` (OpenAI's `json_schema`), to measure what
    /// structured output costs under load; nil sends none.
    public var jsonSchema: JSONValue?

    /// Settings for `model`.
    public init(model: String, temperature: Double = 0, ignoreEOS: Bool = false, timeout: Duration = .seconds(300), jsonSchema: JSONValue? = nil) {
        self.jsonSchema = jsonSchema
        self.model = model
        self.temperature = temperature
        self.ignoreEOS = ignoreEOS
        self.timeout = timeout
    }
}

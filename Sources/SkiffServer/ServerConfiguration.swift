import SkiffEngine
import SkiffModelFile

/// How `InferenceServer` listens, whom it serves and what it allows.
///
/// Engine limits (running and waiting requests, context, KV cache) are the engine's
/// `EngineConfiguration`; this type holds only what the HTTP layer decides.
public struct ServerConfiguration: Sendable {
    /// The address to bind, such as `127.0.0.1` or `0.0.0.0`.
    public var host: String
    /// The TCP port; 0 picks a free one (reported through `InferenceServer`'s `onListening`).
    public var port: Int
    /// The model id clients send and `/v1/models` lists.
    public var servedModelName: String
    /// Accepted API keys (`Authorization: Bearer <key>`); empty means no authentication.
    public var apiKeys: [String]
    /// The largest request body accepted; larger bodies get 413.
    public var maxBodyBytes: Int
    /// The most tokens one request may generate, whatever it asks for; nil means up to the context.
    public var maxTokensCap: Int?
    /// The longest prompt accepted, in tokens; longer ones get 400. Nil means up to the context.
    public var maxPromptTokens: Int?
    /// How long in-flight requests may run after a graceful shutdown begins.
    public var gracePeriod: Duration
    /// How long one request may take from arrival to its last token; past it, it ends with 408
    /// (`request_timeout`) and its cache blocks are freed. Nil: no limit.
    public var requestTimeout: Duration?
    /// Whether logs may contain prompt and completion text (off by default).
    public var logPrompts: Bool
    /// The version `/version` reports.
    public var version: String
    /// Sampling settings for what a request leaves out, over the model file's recommendation and
    /// llama.cpp's defaults (``SamplingRecommendation/defaults(overriddenBy:)``).
    public var sampling: SamplingOverrides

    /// Creates a configuration; the defaults suit a local server.
    public init(host: String = "127.0.0.1", port: Int = 8080, servedModelName: String, apiKeys: [String] = [],
                maxBodyBytes: Int = 4 << 20, maxTokensCap: Int? = nil,
                maxPromptTokens: Int? = nil, gracePeriod: Duration = .seconds(30),
                requestTimeout: Duration? = nil, logPrompts: Bool = false, version: String,
                sampling: SamplingOverrides = SamplingOverrides()) {
        self.host = host
        self.port = port
        self.servedModelName = servedModelName
        self.apiKeys = apiKeys
        self.maxBodyBytes = maxBodyBytes
        self.maxTokensCap = maxTokensCap
        self.maxPromptTokens = maxPromptTokens
        self.gracePeriod = gracePeriod
        self.requestTimeout = requestTimeout
        self.logPrompts = logPrompts
        self.version = version
        self.sampling = sampling
    }
}

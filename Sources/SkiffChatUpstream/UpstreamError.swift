/// Why an answer could not be had from the model service, in words the chat shows its user.
public struct UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of failure the chat tells apart (also the `kind` label of the upstream error metric).
    public enum Kind: String, Sendable, CaseIterable {
        /// No connection: the service is down, starting, or the URL is wrong.
        case unreachable
        /// The service is at capacity (429, or 503 while it starts or drains); retry later.
        case busy
        /// The conversation is longer than the model's context (400 `context_length_exceeded`).
        case contextTooLong = "context_too_long"
        /// The service refused the request for another reason (4xx): unknown model, bad API key, ...
        case rejected
        /// The service failed (5xx, or an error event inside the stream).
        case serverError = "server_error"
        /// The answer stopped before its end: the connection closed or went silent mid-stream.
        case cutOff = "cut_off"
        /// The service answered with something that is not an OpenAI response.
        case malformed
    }

    public var kind: Kind
    /// A sentence for the user.
    public var message: String
    /// The HTTP status, when the service answered with one.
    public var status: Int?
    /// Seconds the service asked to wait (`Retry-After`), for `busy`.
    public var retryAfterSeconds: Int?
    /// The service's own words or the transport error, for logs.
    public var detail: String

    public init(_ kind: Kind, _ message: String, status: Int? = nil, retryAfterSeconds: Int? = nil, detail: String = "") {
        self.kind = kind
        self.message = message
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.detail = detail
    }

    public var description: String {
        var text = "\(kind.rawValue): \(message)"
        if !detail.isEmpty { text += " (\(detail))" }
        return text
    }
}

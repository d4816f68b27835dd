/// Why one request of a run failed. Failed requests are counted, grouped by error in the report,
/// and left out of every latency figure.
public struct RequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: String, Sendable, Hashable {
        /// The server answered with a status other than 200 (429 and 503 when it sheds load).
        case httpStatus = "http_status"
        /// The stream carried an `error` object instead of a chunk.
        case serverError = "server_error"
        /// An event's data was neither a JSON chunk nor `[DONE]`.
        case malformedStream = "malformed_stream"
        /// The body ended before `data: [DONE]`.
        case incompleteStream = "incomplete_stream"
        /// The stream finished without any generated text, so no time to first token exists.
        case emptyOutput = "empty_output"
        /// No connection, or the connection failed (refused, reset, not HTTP).
        case connection
        /// The request took longer than the per-request timeout.
        case timeout
    }

    /// The kind of failure.
    public var kind: Kind
    /// The HTTP status, for ``Kind/httpStatus``.
    public var status: Int?
    /// What happened, for a person to read.
    public var message: String

    /// An error of `kind`, with the HTTP `status` if the server sent one.
    public init(_ kind: Kind, status: Int? = nil, _ message: String) {
        self.kind = kind
        self.status = status
        self.message = message
    }

    public var description: String {
        status.map { "HTTP \($0): \(message)" } ?? "\(kind.rawValue): \(message)"
    }
}

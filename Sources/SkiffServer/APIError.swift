import Foundation
import Hummingbird
import SkiffEngine
import SkiffModelFile

/// An error as the OpenAI API reports it: an HTTP status and the body
/// `{"error": {"message", "type", "param", "code"}}`.
///
/// Every failure at the HTTP edge becomes one of these, so clients written for OpenAI or vLLM can
/// read the reason and act on it. Messages never contain prompt or completion text.
struct APIError: Error, Sendable, Equatable {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var param: String?
    var code: String?
    /// Seconds after which a client may retry (`Retry-After`), for 429 and 503.
    var retryAfterSeconds: Int?
    /// The method the path does answer (`Allow`), for 405.
    var allowedMethod: HTTPRequest.Method?

    static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static func modelNotFound(_ requested: String, served: String) -> APIError {
        APIError(status: .notFound, message: "The model '\(requested)' does not exist; this server serves '\(served)'.",
                 type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    static func contextLengthExceeded(_ message: String) -> APIError {
        .invalidRequest(message, param: "messages", code: "context_length_exceeded")
    }

    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "The request body is larger than this server accepts (\(limit) bytes).",
                 type: "invalid_request_error", code: "request_too_large")
    }

    static let unauthorized = APIError(
        status: .unauthorized, message: "Missing or invalid API key; send it as 'Authorization: Bearer <key>'.",
        type: "authentication_error", code: "invalid_api_key")

    static let modelLoading = APIError(
        status: .serviceUnavailable, message: "The model is still loading; retry when /ready answers 200.",
        type: "service_unavailable", code: "model_loading", retryAfterSeconds: 5)

    static let shuttingDown = APIError(
        status: .serviceUnavailable, message: "The server is shutting down and accepts no new requests; retry on another replica.",
        type: "service_unavailable", code: "shutting_down", retryAfterSeconds: 1)

    static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: HTTPRequest.Method) -> APIError {
        var error = APIError(status: .methodNotAllowed, message: "\(method.rawValue) is not allowed here; use \(allowed.rawValue).",
                             type: "invalid_request_error", code: "method_not_allowed")
        error.allowedMethod = allowed
        return error
    }

    /// The client closed its connection before the answer (nginx's 499); only logs and metrics see it.
    static let clientClosedRequest = APIError(
        status: .init(code: 499, reasonPhrase: "Client Closed Request"), message: "The client closed the connection.",
        type: "invalid_request_error", code: "client_closed_request")

    static func internalError(_ message: String = "The server failed to handle the request; see its log.") -> APIError {
        APIError(status: .internalServerError, message: message, type: "internal_error", code: "internal_error")
    }

    init(status: HTTPResponse.Status, message: String, type: String, param: String? = nil, code: String?,
         retryAfterSeconds: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The API's view of an engine refusal or failure.
    init(_ error: EngineError) {
        switch error.code {
        case .contextOverflow:
            self = .contextLengthExceeded(error.message)
        case .invalidInput, .chatTemplate:
            self = .invalidRequest(error.message, param: error.field)
        case .overloaded:
            self = APIError(status: .tooManyRequests, message: error.message, type: "rate_limit_error",
                            code: "queue_full", retryAfterSeconds: 1)
        case .timedOut:
            self = APIError(status: .requestTimeout, message: error.message, type: "timeout_error", code: "request_timeout")
        case .unavailable:
            self = .shuttingDown
        case .model, .tokenizer:
            self = .internalError(error.message)
        }
    }

    /// The error a route responds with for anything thrown while handling a request.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError: return error
        case let error as EngineError: return APIError(error)
        case let error as ModelFileError: return APIError(EngineError(error))
        case is CancellationError: return .clientClosedRequest
        case let error as any HTTPResponseError:
            let type = error.status.code >= 500 ? "internal_error" : "invalid_request_error"
            let message = error.status == .notFound ? "No such endpoint." : error.status.reasonPhrase
            return APIError(status: error.status, message: message, type: type, code: nil)
        default: return .internalError()
        }
    }

    /// The JSON body, `{"error": {...}}`.
    var body: ByteBuffer {
        let envelope = Envelope(error: .init(message: message, type: type, param: param, code: code))
        let data = (try? JSONEncoder().encode(envelope)) ?? Data(#"{"error":{"message":"internal error","type":"internal_error","param":null,"code":null}}"#.utf8)
        return ByteBuffer(bytes: data)
    }

    /// The full response: status, JSON body and, when set, `Retry-After`.
    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if let allowedMethod { headers[.allow] = allowedMethod.rawValue }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    private struct Envelope: Encodable {
        struct Body: Encodable {
            var message: String
            var type: String
            var param: String?
            var code: String?

            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(message, forKey: .message)
                try c.encode(type, forKey: .type)
                try c.encode(param, forKey: .param)
                try c.encode(code, forKey: .code)
            }

            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }

        var error: Body
    }
}

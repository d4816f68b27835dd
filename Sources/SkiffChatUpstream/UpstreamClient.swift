import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One message of the conversation sent to the model.
public struct ChatTurn: Sendable, Equatable {
    /// `system`, `user` or `assistant`.
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// What to ask the model service for.
public struct ChatCompletionRequest: Sendable, Equatable {
    public var model: String
    public var messages: [ChatTurn]
    /// `nil`: the service's default.
    public var temperature: Double?
    /// `nil`: the service's default (up to the end of the context).
    public var maxTokens: Int?

    public init(model: String, messages: [ChatTurn], temperature: Double? = nil, maxTokens: Int? = nil) {
        self.model = model
        self.messages = messages
        self.temperature = temperature
        self.maxTokens = maxTokens
    }
}

/// A model the service serves.
public struct ServedModel: Sendable, Equatable {
    /// The id requests name.
    public var id: String
    /// The longest sequence, prompt plus answer, in tokens, where the service says (vLLM's and skiff's
    /// `max_model_len`); nil where it does not (OpenAI's own API).
    public var contextLength: Int?

    public init(id: String, contextLength: Int? = nil) {
        self.id = id
        self.contextLength = contextLength
    }
}

/// How a streamed answer ended, with what the service reported about it.
public struct ChatCompletionSummary: Sendable, Equatable {
    /// The model that answered, as the service names it.
    public var model: String?
    /// `stop`, `length`, ... as the service sent it.
    public var finishReason: String?
    /// From the stream's `usage` (needs a service that honours `stream_options.include_usage`).
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// From sending the request to the first text.
    public var timeToFirstToken: Duration?
    /// From sending the request to the end of the stream.
    public var duration: Duration
}

/// A client for the model service's OpenAI-compatible API (`skiff serve`, vLLM, any `/v1` endpoint):
/// the model list and streamed chat completions.
///
/// Cancelling the task that streams closes the connection, which tells the service to stop generating
/// and free the sequence's slot.
public final class UpstreamClient: Sendable {
    /// Where the service is and how to talk to it.
    public struct Configuration: Sendable {
        /// The API root, e.g. `http://127.0.0.1:8080/v1` (no trailing slash needed).
        public var baseURL: String
        /// Sent as `Authorization: Bearer KEY` when set.
        public var apiKey: String?
        /// How long to wait for a connection.
        public var connectTimeout: Duration
        /// How long the service may stay silent (before its headers or between events) before the
        /// answer counts as cut off. Long enough for a queued request's first token.
        public var idleTimeout: Duration
        /// Connections kept to the service: at least the number of answers streamed at once.
        public var maximumConnections: Int

        public init(
            baseURL: String, apiKey: String? = nil, connectTimeout: Duration = .seconds(5),
            idleTimeout: Duration = .seconds(300), maximumConnections: Int = 1024
        ) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.apiKey = apiKey
            self.connectTimeout = connectTimeout
            self.idleTimeout = idleTimeout
            self.maximumConnections = maximumConnections
        }
    }

    public let configuration: Configuration
    /// One HTTP client, with its own connection pool, per event loop of the group (``http``).
    private let clients: [(loop: any EventLoop, client: HTTPClient)]

    /// How long a pooled connection to the service stays open unused before the pool closes it.
    public static let pooledConnectionIdleTimeout = Duration.seconds(60)

    /// The most bytes of an error response read for its message.
    private static let errorBodyLimit = 64 << 10

    public init(configuration: Configuration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        var http = HTTPClient.Configuration()
        http.timeout = .init(
            connect: .nanoseconds(Int64(configuration.connectTimeout.nanoseconds)),
            read: .nanoseconds(Int64(configuration.idleTimeout.nanoseconds)))
        let loops = Array(eventLoopGroup.makeIterator())
        http.connectionPool = .init(
            idleTimeout: .nanoseconds(Int64(Self.pooledConnectionIdleTimeout.nanoseconds)),
            concurrentHTTP1ConnectionsPerHostSoftLimit: (configuration.maximumConnections + loops.count - 1) / max(1, loops.count))
        http.decompression = .disabled
        self.clients = loops.map { ($0, HTTPClient(eventLoopGroup: $0, configuration: http)) }
    }

    /// The client of the event loop the caller runs on, else the first. A stream whose task runs on the
    /// browser connection's loop thus reads the model service on that same loop: its events reach the
    /// browser without crossing threads (a shared pool hands out connections on any loop).
    private var http: HTTPClient {
        if let current = MultiThreadedEventLoopGroup.currentEventLoop,
            let match = clients.first(where: { $0.loop === current })
        {
            return match.client
        }
        return clients[0].client
    }

    /// Closes the connections. Call once, when done.
    public func shutdown() async throws {
        for (_, client) in clients { try await client.shutdown() }
    }

    /// The models the service serves (`GET /models`), within `timeout`.
    public func models(timeout: Duration = .seconds(10)) async throws(UpstreamError) -> [ServedModel] {
        var request = HTTPClientRequest(url: configuration.baseURL + "/models")
        addHeaders(to: &request)
        let list: ModelList? = try await exchange(
            request, timeout: timeout, bodyLimit: 4 << 20, malformed: "The model service's model list is not an OpenAI model list.")
        return (list?.data ?? []).map { ServedModel(id: $0.id, contextLength: $0.maxModelLength) }
    }

    /// How many tokens `messages` take as `model`'s prompt, chat template and generation prompt included,
    /// asked of the service's tokenizer (`POST /tokenize` beside the `/v1` root, as vLLM and skiff serve
    /// it); nil when the service has no such endpoint (404, 405, 501).
    public func promptTokenCount(model: String, messages: [ChatTurn], timeout: Duration = .seconds(30)) async throws(UpstreamError) -> Int? {
        let root = configuration.baseURL.hasSuffix("/v1") ? String(configuration.baseURL.dropLast(3)) : configuration.baseURL
        var request = HTTPClientRequest(url: root + "/tokenize")
        request.method = .POST
        addHeaders(to: &request)
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = TokenizeRequestBody(model: model, messages: messages.map { .init(role: $0.role, content: $0.content) })
        guard let encoded = try? JSONEncoder().encode(body) else { return nil }
        request.body = .bytes(ByteBuffer(bytes: encoded))
        let answer: TokenizeResponseBody? = try await exchange(
            request, timeout: timeout, bodyLimit: 16 << 20, absentOn: [.notFound, .methodNotAllowed, .notImplemented],
            malformed: "The model service's tokenizer answered something that is not a token count.")
        return answer?.count
    }

    /// Sends `request` and decodes its JSON answer within `timeout`; nil for a status in `absentOn` (an
    /// endpoint the service lacks). Another status than 200 is the service's error, an answer that does
    /// not decode is `malformed` (with `message`), and a failed connection a transport error.
    private func exchange<Answer: Decodable>(
        _ request: HTTPClientRequest, timeout: Duration, bodyLimit: Int, absentOn: Set<HTTPResponseStatus> = [],
        malformed message: String
    ) async throws(UpstreamError) -> Answer? {
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            let body = try await response.body.collect(upTo: bodyLimit)
            if absentOn.contains(response.status) { return nil }
            guard response.status == .ok else {
                throw Self.error(status: response.status, headers: response.headers, body: Array(body.readableBytesView))
            }
            guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView)) else {
                throw UpstreamError(
                    .malformed, message, detail: String(decoding: body.readableBytesView.prefix(200), as: UTF8.self))
            }
            return answer
        } catch let error as UpstreamError {
            throw error
        } catch {
            throw Self.transportError(error, streaming: false)
        }
    }

    /// Streams a chat completion, handing each piece of text to `onText` as it arrives.
    ///
    /// Throws ``UpstreamError`` when the service cannot be reached, refuses, fails or the stream
    /// breaks off; text already handed over stays valid. Task cancellation closes the connection and
    /// throws `CancellationError`.
    public func streamChat(
        _ completion: ChatCompletionRequest, onText: (String) async -> Void
    ) async throws -> ChatCompletionSummary {
        let clock = ContinuousClock()
        let start = clock.now
        var request = HTTPClientRequest(url: configuration.baseURL + "/chat/completions")
        request.method = .POST
        addHeaders(to: &request)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        let body = ChatCompletionRequestBody(
            model: completion.model,
            messages: completion.messages.map { .init(role: $0.role, content: $0.content) },
            temperature: completion.temperature, maxTokens: completion.maxTokens)
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))

        var summary = ChatCompletionSummary(duration: .zero)
        var receivedHeaders = false
        do {
            let response = try await http.execute(request, deadline: .distantFuture)
            receivedHeaders = true
            guard response.status == .ok else {
                var bytes: [UInt8] = []
                for try await buffer in response.body {
                    bytes += buffer.readableBytesView
                    if bytes.count >= Self.errorBodyLimit { break }
                }
                throw Self.error(status: response.status, headers: response.headers, body: bytes)
            }
            var decoder = EventStreamDecoder()
            for try await buffer in response.body {
                for data in decoder.feed(buffer.readableBytesView) {
                    if data == "[DONE]" {
                        summary.duration = clock.now - start
                        return summary
                    }
                    guard let chunk = try? JSONDecoder().decode(ChatCompletionChunk.self, from: Data(data.utf8)) else {
                        throw UpstreamError(
                            .malformed, "The model service sent something that is not part of an answer.",
                            detail: String(data.prefix(200)))
                    }
                    if let error = chunk.error {
                        throw UpstreamError(
                            .serverError, "The model service failed while answering: \(error.message ?? "no reason given").",
                            detail: error.message ?? "")
                    }
                    if let model = chunk.model { summary.model = model }
                    if let usage = chunk.usage {
                        summary.promptTokens = usage.promptTokens
                        summary.completionTokens = usage.completionTokens
                    }
                    for choice in chunk.choices ?? [] {
                        if let reason = choice.finishReason { summary.finishReason = reason }
                        if let text = choice.delta?.content, !text.isEmpty {
                            if summary.timeToFirstToken == nil { summary.timeToFirstToken = clock.now - start }
                            await onText(text)
                        }
                    }
                }
            }
            try Task.checkCancellation()
            throw UpstreamError(
                .cutOff, "The answer was cut off: the model service ended the stream before the end.",
                detail: "body ended without data: [DONE]")
        } catch let error as UpstreamError {
            throw error
        } catch {
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            throw Self.transportError(error, streaming: receivedHeaders)
        }
    }

    private func addHeaders(to request: inout HTTPClientRequest) {
        if let apiKey = configuration.apiKey {
            request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        }
    }

    /// The error an HTTP error response stands for.
    static func error(status: HTTPResponseStatus, headers: HTTPHeaders, body: [UInt8]) -> UpstreamError {
        let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(body))
        let serverMessage =
            envelope?.error.message
            ?? String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let code = Int(status.code)
        let retryAfter = headers.first(name: "Retry-After").flatMap(retryAfterSeconds)
        switch code {
        case 429, 503:
            let when = retryAfter.map { "Try again in \($0) second\($0 == 1 ? "" : "s")." } ?? "Try again in a moment."
            return UpstreamError(
                .busy, "The model service is busy. \(when)", status: code, retryAfterSeconds: retryAfter,
                detail: serverMessage)
        case _ where (code == 400 || code == 413) && isContextError(code: envelope?.error.code, message: serverMessage):
            return UpstreamError(
                .contextTooLong,
                "This conversation is too long for the model's context. Start a new conversation or shorten your message.",
                status: code, detail: serverMessage)
        case 401, 403:
            return UpstreamError(
                .rejected, "The model service refused the chat's API key (check --llm-api-key).", status: code,
                detail: serverMessage)
        case 400..<500:
            return UpstreamError(
                .rejected, "The model service refused the request: \(serverMessage.isEmpty ? "HTTP \(code)" : serverMessage)",
                status: code, detail: serverMessage)
        default:
            return UpstreamError(
                .serverError, "The model service failed (HTTP \(code)). Try again.", status: code, detail: serverMessage)
        }
    }

    /// skiff and vLLM say `context_length_exceeded` (vLLM only in its message); llama.cpp says
    /// `exceed_context_size_error`.
    static func isContextError(code: String?, message: String) -> Bool {
        if let code, code.contains("context") { return true }
        let lowered = message.lowercased()
        return lowered.contains("context length") || lowered.contains("context size")
            || lowered.contains("context window") || lowered.contains("maximum context")
    }

    /// `Retry-After` as seconds: delta-seconds or an HTTP date.
    static func retryAfterSeconds(_ value: String) -> Int? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, Int(date.timeIntervalSinceNow.rounded(.up)))
    }

    /// A transport failure: before the response it means the service is unreachable, after it the
    /// stream was cut off.
    static func transportError(_ error: any Error, streaming: Bool) -> UpstreamError {
        let detail = String(describing: error)
        if streaming {
            return UpstreamError(
                .cutOff, "The answer was cut off: the connection to the model service broke.", detail: detail)
        }
        if let error = error as? HTTPClientError, error == .readTimeout {
            return UpstreamError(
                .unreachable, "The model service did not answer in time. Try again.", detail: detail)
        }
        return UpstreamError(
            .unreachable, "The model service can't be reached right now. Your message is saved; try again when it is back.",
            detail: detail)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Milliseconds as a floating-point number.
    public var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}

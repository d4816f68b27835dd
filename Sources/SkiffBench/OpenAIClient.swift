import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A client for one OpenAI-compatible server: lists its models and sends streamed completion
/// requests, timing every chunk with `ContinuousClock`. Each completion request opens its own
/// connection, so TTFT includes connecting (tens of microseconds on loopback). Requests that fail
/// are returned as records, never thrown.
public struct OpenAIClient: Sendable {
    /// The server this client talks to.
    public let target: BenchTarget
    private let http: HTTPClient

    /// The most bytes of an error response's body that are read for its message.
    private static let errorBodyLimit = 4096

    private init(target: BenchTarget, http: HTTPClient) {
        self.target = target
        self.http = http
    }

    /// Runs `body` with a client that opens up to `connections` connections to the target (so
    /// that that many requests can be in flight), and shuts the client down afterwards.
    public static func withClient<Result>(
        target: BenchTarget, connections: Int, _ body: (OpenAIClient) async throws -> Result
    ) async throws -> Result {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: max(connections, 1))
        // A refused connection is a failed request, not one to retry behind the measurement's back.
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let result: Result
        do {
            result = try await body(OpenAIClient(target: target, http: http))
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        return result
    }

    /// The ids of the models that `GET /models` lists, in its order; an answer must come within `timeout`.
    public func models(timeout: Duration) async throws(BenchError) -> [String] {
        let url = target.baseURL + "/models"
        var request = HTTPClientRequest(url: url)
        addHeaders(to: &request)
        do {
            let response = try await http.execute(request, timeout: TimeAmount(timeout))
            let body = try await response.body.collect(upTo: 16 << 20)
            let bytes = Array(body.readableBytesView)
            guard response.status == .ok else {
                throw BenchError(.modelListFailed, """
                    GET \(url) answered \(response.status.code): \(APIErrorMessage.describe(body: bytes)); \
                    check --url and --api-key, or name the model with --model
                    """)
            }
            guard let list = try? JSONDecoder().decode(ModelList.self, from: Data(bytes)) else {
                throw BenchError(.modelListFailed, "GET \(url) did not answer an OpenAI model list; name the model with --model")
            }
            return list.data.map(\.id)
        } catch let error as BenchError {
            throw error
        } catch {
            throw BenchError(.modelListFailed, "cannot reach \(url): \(Self.describe(error)); is the server running, and is --url right?")
        }
    }

    /// Sends `prompt` as a streamed request and measures it. Gives up after `settings.timeout`.
    func send(_ prompt: BenchPrompt, settings: RequestSettings) async -> RequestRecord {
        let sentAt = ContinuousClock.now
        return await withTaskGroup(of: RequestRecord?.self) { group in
            group.addTask { await self.stream(prompt, settings: settings, sentAt: sentAt) }
            group.addTask {
                try? await Task.sleep(until: sentAt + settings.timeout, clock: .continuous)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? RequestTimeline(sentAt: sentAt).failed(
                RequestError(.timeout, "no complete answer within \(settings.timeout) (raise --timeout)"),
                at: .now)
        }
    }

    /// Sends the request and reads its event stream to the end.
    private func stream(_ prompt: BenchPrompt, settings: RequestSettings, sentAt: ContinuousClock.Instant) async -> RequestRecord {
        var timeline = RequestTimeline(sentAt: sentAt)
        var request = HTTPClientRequest(url: target.baseURL + target.api.path)
        request.method = .POST
        addHeaders(to: &request)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        do {
            let body = CompletionRequestBody(prompt: prompt, api: target.api, settings: settings)
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
            let response = try await http.execute(request, deadline: .distantFuture)
            guard response.status == .ok else {
                var bytes: [UInt8] = []
                for try await buffer in response.body {
                    bytes += buffer.readableBytesView
                    if bytes.count >= Self.errorBodyLimit { break }
                }
                return timeline.failed(RequestError(.httpStatus, status: Int(response.status.code),
                                                    APIErrorMessage.describe(body: bytes)), at: .now)
            }
            var parser = ServerSentEventParser()
            var events = 0
            var doneAt: ContinuousClock.Instant?
            for try await buffer in response.body {
                let now = ContinuousClock.now
                for event in parser.consume(buffer.readableBytesView) where doneAt == nil {
                    events += 1
                    if event.data == "[DONE]" {
                        doneAt = now
                    } else if let error = Self.apply(event, to: &timeline, at: now) {
                        return timeline.failed(error, at: now)
                    }
                }
            }
            guard let doneAt else {
                return timeline.failed(RequestError(.incompleteStream, """
                    the body ended after \(events) event\(events == 1 ? "" : "s") without data: [DONE]
                    """), at: .now)
            }
            return timeline.finished(at: doneAt)
        } catch {
            return timeline.failed(RequestError(.connection, Self.describe(error)), at: .now)
        }
    }

    /// Records one event's chunk; returns the error it carries or is.
    private static func apply(_ event: ServerSentEvent, to timeline: inout RequestTimeline,
                              at instant: ContinuousClock.Instant) -> RequestError? {
        guard let chunk = try? JSONDecoder().decode(StreamChunk.self, from: Data(event.data.utf8)) else {
            let excerpt = event.data.count > 80 ? event.data.prefix(80) + "…" : event.data
            return RequestError(.malformedStream, "an event is not a JSON chunk: \(excerpt)")
        }
        if let error = chunk.error {
            return RequestError(.serverError, error.message)
        }
        if chunk.hasContent {
            timeline.receivedContent(at: instant)
        }
        if let usage = chunk.usage {
            timeline.receivedUsage(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens)
        }
        return nil
    }

    /// A connection failure in a few words.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode)).lowercased()
        }
        if let error = error as? HTTPClientError, error == .remoteConnectionClosed {
            return "the server closed the connection before the end of the answer"
        }
        return "\(error)"
    }

    /// Adds the API key, and asks for a new connection per request, as `vllm bench serve` does
    /// with its per-request session: servers that drop a kept-alive connection after a stream
    /// (llama-server does) would otherwise fail the next request sent on it, and that failure
    /// would be the client's doing.
    private func addHeaders(to request: inout HTTPClientRequest) {
        request.headers.add(name: "Connection", value: "close")
        if let apiKey = target.apiKey {
            request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        }
    }
}

import Foundation
import Hummingbird
import Logging
import NIOCore

/// A small OpenAI-compatible server for the chat tier's tests. The requested model name picks its behaviour:
/// - any other name: streams `tokens` as chat chunks, then usage and `[DONE]`
/// - `busy`: 429 with `Retry-After: 7`; `starting`: 503 without it
/// - `context`: 400 `context_length_exceeded`; `unknown`: 404 model not found; `broken`: 500
/// - `cut`: two chunks, then, once `StandInLog.releaseCut()` is called (a test calls it when its client has
///   both), the connection closes without `[DONE]`
/// - `garbage`: a non-JSON event; `error-event`: an error event mid-stream
/// - `slow`: a chunk every 20 ms until the client goes away (counted in `cancelledStreams`)
/// - `paced`: 50 tokens 20 ms apart (a one-second answer, as a model streams it), then usage and `[DONE]`;
///   `paced-N-MS`: N tokens MS milliseconds apart (`paced-300-40`: a 12-second answer at 25 tokens a second)
/// - `markdown`: `markdownAnswer` (a heading, a list, a table and a fenced code block), in small chunks
/// - `injection`: `injectionAnswer` (a `<script>` element and an `<img onerror>`), in small chunks
///
/// `GET /v1/models` lists `standin-a` and `standin-b`; only `standin-b` states a context length
/// (`contextLength`, as vLLM's `max_model_len`). `POST /tokenize` counts a conversation's tokens by
/// ``tokenCount(_:)``.
public struct StandInUpstream: Sendable {
    public let port: Int
    public let log: StandInLog
    /// Ends when the server has stopped (on SIGTERM or SIGINT, which Hummingbird turns into a shutdown).
    public let stopped: AsyncStream<Void>

    public static let tokens = ["Hello", ",", " world", "!"]

    public static let markdownAnswer = """
        ## Squares

        Here is **bold** and `inline code`:

        - one
        - two

        | n | n² |
        |---|----|
        | 3 | 9 |

        ```swift
        let squares = (1...3).map { $0 * $0 }
        print(squares)
        ```
        """

    public static let injectionAnswer =
        #"Careful: <script>window.injected = 1</script> and <img src="x" onerror="window.injected = 2"> are just text."#

    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// `standin-b`'s context length.
    public static let contextLength = 400

    /// The stand-in tokenizer's count for a conversation: a token per whitespace-separated word, four
    /// per message for the template, two for the generation prompt.
    public static func tokenCount(_ messages: [[String: Any]]) -> Int {
        messages.reduce(2) { total, message in
            total + 4 + ((message["content"] as? String) ?? "").split(whereSeparator: \.isWhitespace).count
        }
    }

    /// Runs `body` with a server on a loopback port (`port` 0: an ephemeral one).
    public static func with<T: Sendable>(port: Int = 0, _ body: @Sendable (StandInUpstream) async throws -> T) async throws -> T {
        let log = StandInLog()
        let router = Router()
        router.get("/v1/models") { _, _ -> Response in
            json(.ok, #"{"object":"list","data":[{"id":"standin-a","object":"model"},{"id":"standin-b","object":"model","max_model_len":\#(contextLength)}]}"#)
        }
        router.post("/tokenize") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let decoded = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            let messages = decoded?["messages"] as? [[String: Any]] ?? []
            await log.recordTokenize()
            return json(.ok, #"{"count":\#(tokenCount(messages)),"max_model_len":\#(contextLength),"tokens":[]}"#)
        }
        router.post("/v1/chat/completions") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let decoded = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            let model = decoded?["model"] as? String ?? ""
            await log.record(body: String(buffer: body), authorization: request.headers[.authorization])
            return respond(model: model, log: log)
        }
        var logger = Logger(label: "standin")
        logger.logLevel = .error
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let (stopped, stop) = AsyncStream<Void>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                defer { stop.finish() }
                try await app.runService()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            // A `cut` answer still waiting for its release would hold up the shutdown.
            let result: T
            do {
                result = try await body(StandInUpstream(port: port, log: log, stopped: stopped))
            } catch {
                await log.releaseCut()
                throw error
            }
            await log.releaseCut()
            group.cancelAll()
            return result
        }
    }

    private static func respond(model: String, log: StandInLog) -> Response {
        switch model {
        case "busy":
            var response = json(.tooManyRequests, #"{"error":{"message":"queue full","type":"rate_limit_error","code":"queue_full"}}"#)
            response.headers[.retryAfter] = "7"
            return response
        case "starting":
            return json(.serviceUnavailable, #"{"error":{"message":"loading","type":"service_unavailable","code":null}}"#)
        case "context":
            return json(
                .badRequest,
                #"{"error":{"message":"This model's maximum context length is 2048 tokens; the prompt has 3000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#)
        case "unknown":
            return json(.notFound, #"{"error":{"message":"The model 'unknown' does not exist.","type":"invalid_request_error","code":"model_not_found"}}"#)
        case "broken":
            return json(.internalServerError, "oops")
        default:
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    switch model {
                    case "cut":
                        try await writer.write(chunk(text: "Partial"))
                        try await writer.write(chunk(text: " answer"))
                        // Both chunks must reach the client before the connection is dropped (the error closes
                        // the channel, which may discard writes still queued): the test says when they have.
                        await log.waitForCutRelease()
                        throw StandInCut()
                    case "garbage":
                        try await writer.write(ByteBuffer(string: "data: {not json\n\n"))
                    case "error-event":
                        try await writer.write(chunk(text: "Half"))
                        try await writer.write(ByteBuffer(string: #"data: {"error":{"message":"engine crashed","code":500}}"# + "\n\n"))
                    case "markdown", "injection":
                        let text = model == "markdown" ? markdownAnswer : injectionAnswer
                        var rest = Substring(text)
                        while !rest.isEmpty {
                            try await writer.write(chunk(text: String(rest.prefix(6))))
                            rest = rest.dropFirst(6)
                        }
                        try await writer.write(chunk(text: nil, finish: "stop"))
                        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    case _ where pace(model) != nil:
                        let (count, interval) = pace(model)!
                        for _ in 0..<count {
                            try await writer.write(chunk(text: " token"))
                            try await Task.sleep(for: .milliseconds(interval))
                        }
                        try await writer.write(chunk(text: nil, finish: "stop"))
                        try await writer.write(
                            ByteBuffer(string: #"data: {"model":"\#(model)","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":\#(count),"total_tokens":\#(count + 9)}}"# + "\n\n"))
                        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    case "slow":
                        do {
                            while true {
                                try await writer.write(chunk(text: "."))
                                try await Task.sleep(for: .milliseconds(20))
                            }
                        } catch {
                            await log.recordCancelled()
                            throw error
                        }
                    default:
                        // A keep-alive comment and CRLF line ends, as some servers send them.
                        try await writer.write(ByteBuffer(string: ": ping\r\n\r\n"))
                        for token in tokens { try await writer.write(chunk(text: token)) }
                        try await writer.write(chunk(text: nil, finish: "stop"))
                        try await writer.write(
                            ByteBuffer(string: #"data: {"model":"standin-a","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}"# + "\n\n"))
                        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    }
                    try await writer.finish(nil)
                })
        }
    }

    /// Tokens and milliseconds between them for `paced` and `paced-N-MS`; nil for other names.
    private static func pace(_ model: String) -> (count: Int, interval: Int)? {
        if model == "paced" { return (50, 20) }
        let parts = model.split(separator: "-")
        guard parts.count == 3, parts[0] == "paced", let count = Int(parts[1]), let interval = Int(parts[2]),
            (1...100_000).contains(count), (0...10_000).contains(interval)
        else { return nil }
        return (count, interval)
    }

    private static func chunk(text: String?, finish: String? = nil) -> ByteBuffer {
        var choice: [String: Any] = ["index": 0, "delta": text.map { ["content": $0] } ?? [:]]
        choice["finish_reason"] = finish ?? NSNull()
        let object: [String: Any] = ["id": "c1", "object": "chat.completion.chunk", "model": "standin-a", "choices": [choice]]
        let data = try! JSONSerialization.data(withJSONObject: object)
        return ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n")
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

struct StandInCut: Error {}

/// What the stand-in saw.
public actor StandInLog {
    public private(set) var bodies: [String] = []
    public private(set) var authorizations: [String?] = []
    public private(set) var cancelledStreams = 0
    /// How many times `POST /tokenize` was asked.
    public private(set) var tokenizeCalls = 0

    func recordTokenize() { tokenizeCalls += 1 }

    func record(body: String, authorization: String?) {
        bodies.append(body)
        authorizations.append(authorization)
    }

    func recordCancelled() { cancelledStreams += 1 }

    private var cutReleased = false
    private var cutWaiters: [CheckedContinuation<Void, Never>] = []

    /// Lets `cut` answers drop their connection; a test calls it once its client has the answer's chunks.
    public func releaseCut() {
        cutReleased = true
        for waiter in cutWaiters { waiter.resume() }
        cutWaiters = []
    }

    func waitForCutRelease() async {
        guard !cutReleased else { return }
        await withCheckedContinuation { cutWaiters.append($0) }
    }
}

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// How the fake server answers one completion request.
struct FakeAnswer: Sendable {
    /// What the answer is.
    enum Mode: Sendable {
        /// Stream `chunks` content chunks, then usage (if `usage`), then `[DONE]`.
        case stream
        /// Answer this status with this body, without streaming.
        case status(Int, body: String)
        /// Stream this many chunks, then close the connection mid-body.
        case closeAfter(chunks: Int)
        /// Stream one event whose data is not JSON.
        case garbage
    }

    var mode = Mode.stream
    /// Content chunks streamed.
    var chunks = 5
    /// The wait before the first chunk.
    var firstChunkDelay = Duration.milliseconds(50)
    /// The wait between chunks.
    var chunkInterval = Duration.milliseconds(10)
    /// The `usage` chunk's completion tokens, or nil to send no usage.
    var completionTokens: Int? = 5
    /// The `usage` chunk's prompt tokens.
    var promptTokens = 7
    /// Write each event in two TCP writes, cut in the middle of its `data:` line.
    var splitEvents = false
    /// End lines with CRLF instead of LF.
    var crlf = false
    /// Send a `: keep-alive` comment before each chunk.
    var keepAlives = false
    /// Send a role-only first chunk without content, as OpenAI's chat streams do.
    var roleChunk = true
    /// Hold the answer (before `firstChunkDelay`) until this many completion requests have been in flight at
    /// once, or for at most a minute.
    var holdUntilInFlight: Int?
}

/// A real OpenAI-style server on 127.0.0.1 and an ephemeral port, built on NIO. It serves
/// `GET /v1/models` and streams scripted completions on `POST /v1/chat/completions` and
/// `POST /v1/completions`, and records the request bodies and the most requests it had in flight.
final class FakeOpenAIServer: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The port it listens on.
    let port: Int
    private let answer: @Sendable (Int) -> FakeAnswer
    private let state = Mutex(Log())

    /// What the server has seen.
    struct Log {
        var bodies: [Data] = []
        var inFlight = 0
        var maxInFlight = 0
    }

    private init(port: Int, answer: @escaping @Sendable (Int) -> FakeAnswer) {
        self.port = port
        self.answer = answer
    }

    /// Runs `body` with a server whose n-th completion request (from 0) gets `answer(n)`, and stops
    /// the server afterwards.
    static func with<T: Sendable>(
        answer: @escaping @Sendable (Int) -> FakeAnswer = { _ in FakeAnswer() },
        _ body: (FakeOpenAIServer) async throws -> T
    ) async throws -> T {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        guard let port = listener.channel.localAddress?.port else {
            try await listener.channel.close()
            throw FakeServerError(description: "the fake server's socket has no port")
        }
        let server = FakeOpenAIServer(port: port, answer: answer)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await listener.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            group.addTask { await server.serve(connection) }
                        }
                    }
                }
            }
            let result = try await body(server)
            group.cancelAll()
            return result
        }
    }

    /// The base URL to give the client.
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// The JSON bodies of the completion requests, in arrival order.
    var requestBodies: [[String: Any]] {
        state.withLock { $0.bodies }.map { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] ?? [:] }
    }

    /// The most completion requests that were in flight at once.
    var maxInFlight: Int { state.withLock { $0.maxInFlight } }

    /// Answers the requests of one connection until it closes.
    private func serve(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var bytes):
                    body.writeBuffer(&bytes)
                case .end:
                    guard let request = head else { continue }
                    guard try await respond(to: request, body: body, outbound: outbound) else { return }
                }
            }
        }
    }

    /// Answers one request; returns whether the connection stays open.
    private func respond(to request: HTTPRequestHead, body: ByteBuffer,
                         outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        switch (request.method, request.uri) {
        case (.GET, "/v1/models"):
            try await send(status: .ok, body: #"{"object":"list","data":[{"id":"fake-model","object":"model"}]}"#, outbound)
            return true
        case (.POST, "/v1/chat/completions"), (.POST, "/v1/completions"):
            let number = begin(body: body)
            let chat = request.uri.hasSuffix("chat/completions")
            return try await stream(answer(number), chat: chat, outbound: outbound)
        default:
            try await send(status: .notFound, body: #"{"error":{"message":"no such route"}}"#, outbound)
            return true
        }
    }

    /// Writes one scripted completion answer; counts the request out of flight before the last
    /// write, so the count never includes a request the client may already consider finished.
    private func stream(_ answer: FakeAnswer, chat: Bool,
                        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        let newline = answer.crlf ? "\r\n" : "\n"
        if case .status(let code, let text) = answer.mode {
            end()
            try await send(status: HTTPResponseStatus(statusCode: code), body: text, outbound)
            return true
        }
        var head = HTTPResponseHead(version: .http1_1, status: .ok)
        head.headers.add(name: "Content-Type", value: "text/event-stream")
        try await outbound.write(.head(head))

        func event(_ json: String) async throws {
            if answer.keepAlives {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: ": keep-alive" + newline + newline))))
            }
            let text = "data: " + json + newline + newline
            if answer.splitEvents {
                let middle = text.index(text.startIndex, offsetBy: text.count / 2)
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: String(text[..<middle])))))
                try await Task.sleep(for: .milliseconds(5))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: String(text[middle...])))))
            } else {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
            }
        }

        if chat, answer.roleChunk {
            try await event(#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#)
        }
        if case .garbage = answer.mode {
            try await event("this is not JSON")
        }
        let chunks: Int
        if case .closeAfter(let count) = answer.mode { chunks = count } else { chunks = answer.chunks }
        if let wanted = answer.holdUntilInFlight {
            let deadline = ContinuousClock.now + .seconds(60)
            while maxInFlight < wanted, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        }
        try await Task.sleep(for: answer.firstChunkDelay)
        for index in 0..<chunks {
            if index > 0 { try await Task.sleep(for: answer.chunkInterval) }
            try await event(chat ? #"{"choices":[{"index":0,"delta":{"content":"tok\#(index) "}}]}"#
                                 : #"{"choices":[{"index":0,"text":"tok\#(index) "}]}"#)
        }
        if case .closeAfter = answer.mode {
            end()
            return false
        }
        if let completion = answer.completionTokens {
            try await event(#"{"choices":[],"usage":{"prompt_tokens":\#(answer.promptTokens),"completion_tokens":\#(completion)}}"#)
        }
        try await event("[DONE]")
        end()
        try await outbound.write(.end(nil))
        return true
    }

    private func send(status: HTTPResponseStatus, body: String,
                      _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var head = HTTPResponseHead(version: .http1_1, status: status)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        try await outbound.write(.head(head))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
        try await outbound.write(.end(nil))
    }

    /// Records a completion request coming in; returns its number, from 0.
    private func begin(body: ByteBuffer) -> Int {
        let bytes = Data(body.readableBytesView)
        return state.withLock { log in
            log.bodies.append(bytes)
            log.inFlight += 1
            log.maxInFlight = max(log.maxInFlight, log.inFlight)
            return log.bodies.count - 1
        }
    }

    /// Records a completion request going out of flight.
    private func end() {
        state.withLock { $0.inFlight -= 1 }
    }
}

/// The fake server could not start.
struct FakeServerError: Error, CustomStringConvertible {
    var description: String
}

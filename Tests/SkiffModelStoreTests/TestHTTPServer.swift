import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// How the test server answers requests for one path.
struct Route: Sendable {
    /// The bytes served.
    var body: [UInt8]
    /// The status for every answer (404, say) instead of serving `body`.
    var status: HTTPResponseStatus = .ok
    /// Whether `Range: bytes=N-` gets a 206 with the tail (or a 416 past the end); if not, a full 200.
    var honorsRange = true
    /// For the first request only: send this many body bytes after announcing all of them, then close the connection.
    var cutFirstResponseAfter: Int?
    /// Answer 302 with this path as `Location` instead.
    var redirectTo: String?
}

/// The test server could not start.
struct TestServerError: Error, CustomStringConvertible {
    var description: String
}

/// A request the test server saw.
struct RecordedRequest: Sendable {
    var path: String
    var headers: HTTPHeaders
    var status: Int
}

/// A real HTTP/1.1 server on 127.0.0.1 and an ephemeral port, running on NIO's event loops.
final class TestHTTPServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let state: State

    /// Routes and the request log, shared by the connections' handlers.
    final class State: Sendable {
        let routes: [String: Route]
        private let log = Mutex<[RecordedRequest]>([])

        init(routes: [String: Route]) {
            self.routes = routes
        }

        func record(_ request: RecordedRequest) -> Int {
            log.withLock {
                $0.append(request)
                return $0.filter { $0.path == request.path }.count
            }
        }

        var requests: [RecordedRequest] { log.withLock { $0 } }
    }

    private init(port: Int, channel: any Channel, state: State) {
        self.port = port
        self.channel = channel
        self.state = state
    }

    /// Runs `body` with a server for `routes`, and closes the server afterwards.
    static func with<T>(routes: [String: Route], _ body: (TestHTTPServer) async throws -> T) async throws -> T {
        let state = State(routes: routes)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RouteHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else {
            try await channel.close()
            throw TestServerError(description: "the test server's socket has no port")
        }
        let server = TestHTTPServer(port: port, channel: channel, state: state)
        do {
            let result = try await body(server)
            try await channel.close()
            return result
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// The URL of `path` on this server.
    func url(_ path: String) -> URL {
        URL(string: "http://127.0.0.1:\(port)\(path)")!
    }

    /// Every request seen so far, in order.
    var requests: [RecordedRequest] { state.requests }
}

/// Answers one connection's requests from the routes.
private final class RouteHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: TestHTTPServer.State
    private var head: HTTPRequestHead?

    init(state: TestHTTPServer.State) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            if let head {
                respond(to: head, context: context)
            }
            head = nil
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        guard let route = state.routes[request.uri] else {
            _ = state.record(RecordedRequest(path: request.uri, headers: request.headers, status: 404))
            send(.notFound, [], body: Array("no such file".utf8), context: context)
            return
        }
        if let target = route.redirectTo {
            _ = state.record(RecordedRequest(path: request.uri, headers: request.headers, status: 302))
            send(.found, [("Location", target)], body: [], context: context)
            return
        }
        if route.status != .ok {
            _ = state.record(RecordedRequest(path: request.uri, headers: request.headers, status: Int(route.status.code)))
            send(route.status, [], body: Array("error".utf8), context: context)
            return
        }
        let size = route.body.count
        var status = HTTPResponseStatus.ok
        var start = 0
        var extraHeaders: [(String, String)] = []
        if route.honorsRange, let offset = rangeStart(request.headers) {
            if offset >= size {
                status = .rangeNotSatisfiable
                extraHeaders.append(("Content-Range", "bytes */\(size)"))
            } else {
                status = .partialContent
                start = offset
                extraHeaders.append(("Content-Range", "bytes \(offset)-\(size - 1)/\(size)"))
            }
        }
        let number = state.record(RecordedRequest(path: request.uri, headers: request.headers, status: Int(status.code)))
        if status == .rangeNotSatisfiable {
            send(status, extraHeaders, body: [], context: context)
            return
        }
        let tail = Array(route.body[start...])
        if number == 1, let cut = route.cutFirstResponseAfter {
            send(status, extraHeaders, body: tail, sendOnly: cut, context: context)
        } else {
            send(status, extraHeaders, body: tail, context: context)
        }
    }

    /// Sends a response announcing `body.count` bytes; with `sendOnly`, sends that many and closes the connection.
    private func send(
        _ status: HTTPResponseStatus,
        _ headers: [(String, String)],
        body: [UInt8],
        sendOnly: Int? = nil,
        context: ChannelHandlerContext
    ) {
        var head = HTTPResponseHead(version: .http1_1, status: status)
        head.headers.add(name: "Content-Length", value: String(body.count))
        for (name, value) in headers {
            head.headers.add(name: name, value: value)
        }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let sent = sendOnly.map { Array(body.prefix($0)) } ?? body
        if !sent.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: sent)))), promise: nil)
        }
        if sendOnly != nil {
            context.flush()
            context.close(promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// N from `Range: bytes=N-`.
    private func rangeStart(_ headers: HTTPHeaders) -> Int? {
        guard let value = headers.first(name: "Range"), value.hasPrefix("bytes="), value.hasSuffix("-") else { return nil }
        return Int(value.dropFirst("bytes=".count).dropLast())
    }
}

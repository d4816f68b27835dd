import Foundation
import Hummingbird
import Logging
import NIOCore
import SkiffChatStore

/// Builds the Hummingbird application: probes and metrics, static files, sign-in pages, then everything
/// behind the session middleware.
enum ChatApplication {
    static func make(
        state: ChatState, onServerRunning: @escaping @Sendable (Int) async -> Void, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router(context: ChatRequestContext.self)
        router.add(middleware: ResponseHeadersMiddleware(metrics: state.metrics))
        ProbeRoutes(state: state).register(on: router)
        StaticFiles.register(on: router)
        let pages = PageRoutes(state: state)
        pages.registerPublic(on: router)
        let signedIn = router.group().add(middleware: SessionMiddleware(state: state))
        pages.register(on: signedIn)
        ConversationRoutes(state: state).register(on: signedIn)
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(state.configuration.host, port: state.configuration.port), serverName: "skiff-chat"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("skiff-chat listening", metadata: ["url": "http://\(state.configuration.host):\(port)/"])
                await onServerRunning(port)
            },
            logger: logger)
    }
}

/// `/health`, `/ready` and `/metrics`.
struct ProbeRoutes: Sendable {
    let state: ChatState

    func register(on router: Router<ChatRequestContext>) {
        router.get("/health") { _, _ in "ok\n" }
        router.get("/ready", use: ready)
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: self.state.metrics.render())))
        }
    }

    /// Ready when the database answers and the replica is not draining. Whether the model service
    /// answers (its last background check: `ModelServiceMonitor`) is reported but does not count: the chat
    /// stays usable (history, search) without it, and says so when asked for an answer.
    @Sendable func ready(_ request: Request, context: ChatRequestContext) async throws -> Response {
        var database = "ok"
        do {
            try await state.store.ping()
        } catch {
            database = "unreachable"
            context.logger.warning("database unreachable", metadata: ["error": "\(error)"])
        }
        let modelService = state.modelServiceStatus
        let ready = database == "ok" && !state.isDraining
        let body = #"{"ready":\#(ready),"draining":\#(state.isDraining),"database":"\#(database)","model_service":"\#(modelService)"}"#
        return Response(
            status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body + "\n")))
    }
}

/// Security headers on every response (a strict Content-Security-Policy: scripts and styles only from
/// this origin, no inline code, no framing), and request counts for the metrics.
struct ResponseHeadersMiddleware: RouterMiddleware {
    typealias Context = ChatRequestContext

    let metrics: ChatMetrics

    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            Self.addHeaders(to: &response.headers)
            metrics.recordRequest(status: Int(response.status.code))
            return response
        } catch let error as any HTTPResponseError {
            var response = try error.response(from: request, context: context)
            Self.addHeaders(to: &response.headers)
            metrics.recordRequest(status: Int(response.status.code))
            return response
        } catch {
            metrics.recordRequest(status: 500)
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            var response = Response(
                status: .internalServerError, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"The chat server failed; see its log."}}"#)))
            Self.addHeaders(to: &response.headers)
            return response
        }
    }

    static func addHeaders(to headers: inout HTTPFields) {
        headers[HeaderName("Content-Security-Policy")!] = contentSecurityPolicy
        headers[HeaderName("X-Content-Type-Options")!] = "nosniff"
        headers[HeaderName("Referrer-Policy")!] = "no-referrer"
        headers[HeaderName("X-Frame-Options")!] = "DENY"
    }
}

/// The script, style sheet and icon, read once from the module's resources.
enum StaticFiles {
    static let files: [String: (type: String, body: ByteBuffer)] = {
        var files: [String: (String, ByteBuffer)] = [:]
        for (name, type) in [("chat.js", "text/javascript; charset=utf-8"), ("chat.css", "text/css; charset=utf-8"), ("icon.svg", "image/svg+xml")] {
            if let url = Bundle.module.resourceURL?.appendingPathComponent("static/\(name)"),
                let data = try? Data(contentsOf: url)
            {
                files[name] = (type, ByteBuffer(bytes: data))
            }
        }
        return files
    }()

    static func register(on router: Router<ChatRequestContext>) {
        router.get("/static/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let file = files[name] else { throw HTTPError(.notFound) }
            return Response(
                status: .ok, headers: [.contentType: file.type, .cacheControl: "no-cache"], body: .init(byteBuffer: file.body))
        }
    }
}

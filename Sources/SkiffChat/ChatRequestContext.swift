import Foundation
import Hummingbird
import NIOCore
import SkiffChatStore

/// Per-request state: who is asking (set by ``SessionMiddleware``) and from where.
struct ChatRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The TCP peer: the browser, or the proxy in front of the tier.
    let remoteAddress: SocketAddress?
    /// The event loop of the request's connection: answer streams run their tasks on it.
    let eventLoop: any EventLoop
    /// The signed-in user; set for every route behind the session middleware.
    var user: User?
    var session: Session?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        eventLoop = source.channel.eventLoop
    }

    /// Bodies are small JSON or forms; messages have their own, smaller limit.
    var maxUploadSize: Int { 1 << 20 }

    /// The user, or a 401 for a route that was reached without one (a wiring mistake).
    func requireUser() throws -> User {
        guard let user else { throw HTTPError(.unauthorized) }
        return user
    }
}

extension ChatRequestContext {
    /// Forms (`application/x-www-form-urlencoded`) from the sign-in pages, JSON from the script.
    var requestDecoder: ChatRequestDecoder { ChatRequestDecoder() }
}

/// Decodes a request body by its content type: URL-encoded form or JSON.
struct ChatRequestDecoder: RequestDecoder {
    func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        if request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
            return try await URLEncodedFormDecoder().decode(type, from: request, context: context)
        }
        return try await JSONDecoder().decode(type, from: request, context: context)
    }
}

/// A header name (swift-http-types' `HTTPField.Name`, reached through Hummingbird's `HTTPFields`).
typealias HeaderName = HTTPFields.Element.Name

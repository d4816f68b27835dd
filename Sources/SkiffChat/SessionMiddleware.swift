import Foundation
import Hummingbird
import SkiffChatStore

/// Signs the request's user in (by session cookie, the single local user, or a trusted proxy's header)
/// and refuses state-changing requests without the session's CSRF token or from another origin.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = ChatRequestContext

    static let cookieName = "skiff_session"
    static let csrfHeader = "X-CSRF-Token"
    static let csrfField = "_csrf"
    /// The single user of `--auth none`.
    static let localUserName = "local"

    let state: ChatState

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var request = request
        var context = context
        let unsafeMethod = ![.get, .head, .options].contains(request.method)
        if unsafeMethod, !Self.sameOrigin(request) {
            throw HTTPError(.forbidden, message: "Cross-origin requests are refused.")
        }
        let token = request.cookies[Self.cookieName]?.value
        var current: (Session, User)?
        if let token {
            current = try await state.store.session(tokenHash: Credentials.tokenHash(token))
        }
        var newToken: String?

        switch state.configuration.auth {
        case .none:
            if current == nil {
                let user = try await state.store.ensureUser(name: Self.localUserName)
                (current, newToken) = try await startSession(for: user)
            }
        case .header:
            guard let remote = context.remoteAddress,
                state.configuration.trustedProxies.contains(where: { $0.contains(remote) }),
                let name = request.headers[HeaderName(state.configuration.authHeader)!]?
                    .trimmingCharacters(in: .whitespaces), !name.isEmpty, name.utf8.count <= 256
            else {
                throw HTTPError(
                    .unauthorized, message: "Sign in through this chat's sign-in proxy; direct requests are not accepted.")
            }
            if current?.1.name != name {
                let user = try await state.store.ensureUser(name: name)
                (current, newToken) = try await startSession(for: user)
            }
        case .password:
            guard current != nil else {
                if request.method == .get, !request.uri.path.hasPrefix("/api/") {
                    return Response(status: .seeOther, headers: [.location: "/login"])
                }
                throw HTTPError(.unauthorized, message: "Sign in first.")
            }
        }
        guard let (session, user) = current else { throw HTTPError(.unauthorized) }

        // Every state change needs the token of an existing session: a session made just now by this very
        // request cannot have been sent one (the page the browser loads next carries it).
        if unsafeMethod {
            let sent = newToken == nil ? try await Self.csrfToken(in: &request, context: context) : nil
            guard let sent, Credentials.constantTimeEqual(sent, session.csrfToken) else {
                throw HTTPError(.forbidden, message: "The form has expired; reload the page and try again.")
            }
        }
        context.user = user
        context.session = session
        var response = try await next(request, context)
        if let newToken {
            response.setCookie(sessionCookie(newToken, request: request))
        }
        return response
    }

    /// Stores a new session for `user`; returns it and the cookie's token.
    func startSession(for user: User) async throws -> ((Session, User), String) {
        let token = Credentials.newToken()
        let session = try await state.store.createSession(
            tokenHash: Credentials.tokenHash(token), userID: user.id, csrfToken: Credentials.newToken(),
            expiresAt: Date().addingTimeInterval(state.configuration.sessionLifetime))
        return ((session, user), token)
    }

    func sessionCookie(_ token: String, request: Request) -> Cookie {
        Cookie(
            name: Self.cookieName, value: token, maxAge: Int(state.configuration.sessionLifetime), path: "/",
            secure: Self.isSecure(request, configured: state.configuration.secureCookies), httpOnly: true,
            sameSite: .lax)
    }

    static func isSecure(_ request: Request, configured: Bool?) -> Bool {
        if let configured { return configured }
        return request.headers[HeaderName("X-Forwarded-Proto")!]?.lowercased() == "https"
            || request.head.scheme == "https"
    }

    /// A browser names the page's origin on every POST; it must be this host. Requests without an
    /// `Origin` (curl, old browsers) rely on the CSRF token alone.
    static func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin] else { return true }
        guard let host = request.head.authority else { return false }
        guard let url = URL(string: origin), let originHost = url.host else { return false }
        let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
        return originAuthority.lowercased() == host.lowercased()
    }

    /// The CSRF token from the header, or from the `_csrf` field of a form body (the body is kept for
    /// the route).
    static func csrfToken(in request: inout Request, context: Context) async throws -> String? {
        if let header = request.headers[HeaderName(csrfHeader)!] { return header }
        guard request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true else { return nil }
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        let form = String(buffer: body)
        for pair in form.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == csrfField {
                return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
        }
        return nil
    }
}

import Foundation
import Hummingbird
import Logging
import SkiffChatStore

/// Server-rendered pages: the chat, sign-in, first-account sign-up and user administration.
struct PageRoutes: Sendable {
    let state: ChatState

    /// Routes that need a signed-in user.
    func register(on router: RouterGroup<ChatRequestContext>) {
        router.get("/", use: home)
        router.get("/c/:id", use: conversationPage)
        router.post("/logout", use: logout)
        router.get("/admin/users", use: usersPage)
        router.post("/admin/users", use: addUser)
    }

    /// Routes reached before signing in (`--auth password`).
    func registerPublic(on router: Router<ChatRequestContext>) {
        router.get("/login", use: loginPage)
        router.post("/login", use: login)
        router.get("/signup", use: signupPage)
        router.post("/signup", use: signup)
    }

    // MARK: Chat

    @Sendable func home(_ request: Request, context: ChatRequestContext) async throws -> Response {
        try await renderChat(conversation: nil, messages: [], context: context)
    }

    @Sendable func conversationPage(_ request: Request, context: ChatRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let id = try context.parameters.require("id")
        guard let (conversation, messages) = try await state.store.conversationWithMessages(id: id, userID: user.id) else {
            return try render("error", ErrorPage(title: "Not found", message: "This conversation does not exist."), status: .notFound)
        }
        return try await renderChat(conversation: conversation, messages: messages, context: context)
    }

    struct ChatPage {
        struct Item {
            var id: String
            var title: String
            var current: Bool
        }

        struct Entry {
            var id: String
            var sequence: Int
            var role: String
            var isUser: Bool
            var content: String
            var state: String
            var notice: String?
            var stats: String?
            var model: String?
        }

        struct Settings {
            var model: String
            var systemPrompt: String
            var temperature: String
            var maxTokens: String
        }

        var pageTitle: String
        var csrf: String
        var userName: String
        var canSignOut: Bool
        var isAdmin: Bool
        var conversations: [Item]
        var conversationID: String
        var hasConversation: Bool
        var messages: [Entry]
        var settings: Settings
    }

    private func renderChat(conversation: Conversation?, messages: [Message], context: ChatRequestContext) async throws -> Response {
        let user = try context.requireUser()
        guard let session = context.session else { throw HTTPError(.unauthorized) }
        let conversations = try await state.store.conversations(userID: user.id)
        let entries = messages.map { Self.entry($0) }
        let settings = conversation?.settings ?? ConversationSettings()
        let page = ChatPage(
            pageTitle: conversation?.title ?? "New chat", csrf: session.csrfToken, userName: user.name,
            canSignOut: state.configuration.auth == .password, isAdmin: user.isAdmin && state.configuration.auth == .password,
            conversations: conversations.map { .init(id: $0.id, title: $0.title, current: $0.id == conversation?.id) },
            conversationID: conversation?.id ?? "", hasConversation: conversation != nil, messages: entries,
            settings: .init(
                model: settings.model ?? "", systemPrompt: settings.systemPrompt,
                temperature: settings.temperature.map { String($0) } ?? "",
                maxTokens: settings.maxTokens.map(String.init) ?? ""))
        return try render("chat", page)
    }

    /// A stored message as the page shows it; a `streaming` answer that no replica is still writing
    /// (not saved for a while) shows as interrupted.
    static func entry(_ message: Message, now: Date = Date()) -> ChatPage.Entry {
        var state = message.state
        var notice = message.error
        if state == .streaming, now.timeIntervalSince(message.updatedAt) > 15 {
            state = .interrupted
            notice = "This answer was cut off when the chat server stopped; what arrived is kept."
        }
        if state == .stopped, notice == nil { notice = "Stopped." }
        return .init(
            id: message.id, sequence: message.sequence, role: message.role.rawValue, isUser: message.role == .user,
            content: message.content, state: state.rawValue, notice: notice, stats: statsLine(message.stats),
            model: message.model)
    }

    /// "TTFT 120 ms · 45.2 tok/s · 12 + 80 tokens"
    static func statsLine(_ stats: MessageStats) -> String? {
        var parts: [String] = []
        if let ttft = stats.timeToFirstTokenMilliseconds { parts.append("first token \(Int(ttft.rounded())) ms") }
        if let completion = stats.completionTokens, let duration = stats.durationMilliseconds {
            let generating = (duration - (stats.timeToFirstTokenMilliseconds ?? 0)) / 1000
            if completion > 1, generating > 0 {
                parts.append(String(format: "%.1f tok/s", Double(completion - 1) / generating))
            }
        }
        if let prompt = stats.promptTokens, let completion = stats.completionTokens {
            parts.append("\(prompt) prompt + \(completion) answer tokens")
        }
        if let omitted = stats.omittedMessages, omitted > 0 {
            parts.append("\(omitted) earlier message\(omitted == 1 ? "" : "s") left out to fit the model's context")
        }
        return parts.isEmpty ? nil : parts.joined(separator: " · ")
    }

    // MARK: Accounts

    struct FormPage {
        var title: String
        var error: String?
        var name: String
        var csrf: String
    }

    struct ErrorPage {
        var title: String
        var message: String
    }

    @Sendable func loginPage(_ request: Request, context: ChatRequestContext) async throws -> Response {
        guard state.configuration.auth == .password else { return redirect("/") }
        if try await state.store.userCount() == 0 { return redirect("/signup") }
        return try render("login", FormPage(title: "Sign in", error: nil, name: "", csrf: ""))
    }

    struct AccountForm: Decodable {
        var name: String
        var password: String
    }

    @Sendable func login(_ request: Request, context: ChatRequestContext) async throws -> Response {
        guard state.configuration.auth == .password else { return redirect("/") }
        guard SessionMiddleware.sameOrigin(request) else { throw HTTPError(.forbidden) }
        let form = try await request.decode(as: AccountForm.self, context: context)
        guard let user = try await state.store.user(named: form.name), let hash = user.passwordHash,
            try await Credentials.verifyPassword(form.password, hash: hash)
        else {
            return try render(
                "login", FormPage(title: "Sign in", error: "Wrong name or password.", name: form.name, csrf: ""),
                status: .unauthorized)
        }
        return try await signedIn(user, request: request)
    }

    @Sendable func signupPage(_ request: Request, context: ChatRequestContext) async throws -> Response {
        guard state.configuration.auth == .password, try await state.store.userCount() == 0 else { return redirect("/login") }
        return try render("signup", FormPage(title: "Create the first account", error: nil, name: "", csrf: ""))
    }

    /// Creates the first account (an admin). Later accounts are added by an admin.
    @Sendable func signup(_ request: Request, context: ChatRequestContext) async throws -> Response {
        guard state.configuration.auth == .password else { return redirect("/") }
        guard SessionMiddleware.sameOrigin(request) else { throw HTTPError(.forbidden) }
        let form = try await request.decode(as: AccountForm.self, context: context)
        if let problem = Self.accountProblem(form) {
            return try render("signup", FormPage(title: "Create the first account", error: problem, name: form.name, csrf: ""), status: .badRequest)
        }
        guard try await state.store.userCount() == 0 else { return redirect("/login") }
        let hash = try await Credentials.hashPassword(form.password)
        guard let user = try await state.store.createUser(name: form.name, passwordHash: hash, adminIfFirst: true), user.isAdmin
        else {
            return redirect("/login")
        }
        return try await signedIn(user, request: request)
    }

    @Sendable func logout(_ request: Request, context: ChatRequestContext) async throws -> Response {
        if let session = context.session { try await state.store.deleteSession(tokenHash: session.tokenHash) }
        var response = redirect(state.configuration.auth == .password ? "/login" : "/")
        response.setCookie(Cookie(name: SessionMiddleware.cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .lax))
        return response
    }

    struct UsersPage {
        struct Row {
            var name: String
            var isAdmin: Bool
            var created: String
        }

        var title = "Users"
        var csrf: String
        var users: [Row]
        var error: String?
        var added: String?
    }

    @Sendable func usersPage(_ request: Request, context: ChatRequestContext) async throws -> Response {
        try await renderUsers(context: context, error: nil, added: nil)
    }

    @Sendable func addUser(_ request: Request, context: ChatRequestContext) async throws -> Response {
        let admin = try context.requireUser()
        guard state.configuration.auth == .password, admin.isAdmin else { throw HTTPError(.notFound) }
        let form = try await request.decode(as: AccountForm.self, context: context)
        if let problem = Self.accountProblem(form) {
            return try await renderUsers(context: context, error: problem, added: nil, status: .badRequest)
        }
        let hash = try await Credentials.hashPassword(form.password)
        guard try await state.store.createUser(name: form.name, passwordHash: hash) != nil else {
            return try await renderUsers(context: context, error: "The name '\(form.name)' is taken.", added: nil, status: .conflict)
        }
        return try await renderUsers(context: context, error: nil, added: form.name)
    }

    private func renderUsers(context: ChatRequestContext, error: String?, added: String?, status: HTTPResponse.Status = .ok)
        async throws -> Response
    {
        let admin = try context.requireUser()
        guard state.configuration.auth == .password, admin.isAdmin, let session = context.session else {
            throw HTTPError(.notFound)
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        let rows = try await state.store.users().map {
            UsersPage.Row(name: $0.name, isAdmin: $0.isAdmin, created: formatter.string(from: $0.createdAt))
        }
        return try render("users", UsersPage(csrf: session.csrfToken, users: rows, error: error, added: added), status: status)
    }

    static func accountProblem(_ form: AccountForm) -> String? {
        let name = form.name
        if name.isEmpty || name.count > 64 || name.contains(where: { $0.isWhitespace || $0.isNewline }) {
            return "A name has 1 to 64 characters and no spaces."
        }
        if form.password.count < 8 { return "A password has at least 8 characters." }
        if form.password.utf8.count > 72 { return "A password has at most 72 bytes (bcrypt reads no further)." }
        return nil
    }

    private func signedIn(_ user: User, request: Request) async throws -> Response {
        let middleware = SessionMiddleware(state: state)
        let (_, token) = try await middleware.startSession(for: user)
        var response = redirect("/")
        response.setCookie(middleware.sessionCookie(token, request: request))
        return response
    }

    // MARK: Rendering

    private func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    func render(_ template: String, _ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        guard let html = state.templates.render(object, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "template \(template) is missing")
        }
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

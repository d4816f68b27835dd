import Foundation
import Hummingbird
import Logging
import SkiffChatStore
import SkiffChatUpstream

/// The JSON and event-stream API the page's script calls, and the exports.
struct ConversationRoutes: Sendable {
    let state: ChatState

    static let defaultTitle = "New chat"

    func register(on router: RouterGroup<ChatRequestContext>) {
        router.get("/api/models", use: models)
        router.get("/api/conversations", use: list)
        router.post("/api/conversations", use: create)
        router.patch("/api/conversations/:id", use: update)
        router.delete("/api/conversations/:id", use: delete)
        router.post("/api/conversations/:id/messages", use: send)
        router.post("/api/conversations/:id/regenerate", use: regenerate)
        router.post("/api/conversations/:id/edit", use: edit)
        router.get("/c/:id/export.md", use: exportMarkdown)
        router.get("/c/:id/export.json", use: exportJSON)
    }

    struct ModelsResponse: ResponseEncodable {
        var models: [String]
        var error: String?
    }

    @Sendable func models(_ request: Request, context: ChatRequestContext) async throws -> ModelsResponse {
        do {
            return ModelsResponse(models: try await state.models())
        } catch {
            return ModelsResponse(models: [], error: error.message)
        }
    }

    struct ConversationSummary: ResponseEncodable {
        var id: String
        var title: String
        var url: String
        var updatedAt: Date

        init(_ conversation: Conversation) {
            id = conversation.id
            title = conversation.title
            url = "/c/\(conversation.id)"
            updatedAt = conversation.updatedAt
        }
    }

    struct ConversationList: ResponseEncodable {
        var conversations: [ConversationSummary]
    }

    @Sendable func list(_ request: Request, context: ChatRequestContext) async throws -> ConversationList {
        let user = try context.requireUser()
        let query = request.uri.queryParameters.get("q")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let found =
            query.isEmpty
            ? try await state.store.conversations(userID: user.id)
            : try await state.store.searchConversations(userID: user.id, text: String(query.prefix(200)))
        return ConversationList(conversations: found.map(ConversationSummary.init))
    }

    struct SettingsBody: Decodable {
        var title: String?
        var model: String?
        var systemPrompt: String?
        var temperature: Double?
        var maxTokens: Int?
        /// `"temperature": null` or `"maxTokens": null`: back to the model service's default (a missing
        /// field leaves the setting as it is).
        var clearsTemperature = false
        var clearsMaxTokens = false

        enum CodingKeys: String, CodingKey { case title, model, systemPrompt, temperature, maxTokens }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            title = try c.decodeIfPresent(String.self, forKey: .title)
            model = try c.decodeIfPresent(String.self, forKey: .model)
            systemPrompt = try c.decodeIfPresent(String.self, forKey: .systemPrompt)
            temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
            maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
            clearsTemperature = try c.contains(.temperature) && c.decodeNil(forKey: .temperature)
            clearsMaxTokens = try c.contains(.maxTokens) && c.decodeNil(forKey: .maxTokens)
        }
    }

    @Sendable func create(_ request: Request, context: ChatRequestContext) async throws -> EditedResponse<ConversationSummary> {
        let user = try context.requireUser()
        let body = try await decodeIfPresent(SettingsBody.self, request, context)
        let settings = try validated(body, base: ConversationSettings())
        let title = try validatedTitle(body?.title) ?? Self.defaultTitle
        let conversation = try await state.store.createConversation(userID: user.id, title: title, settings: settings)
        return EditedResponse(status: .created, response: ConversationSummary(conversation))
    }

    @Sendable func update(_ request: Request, context: ChatRequestContext) async throws -> HTTPResponse.Status {
        let user = try context.requireUser()
        let conversation = try await owned(context)
        let body = try await request.decode(as: SettingsBody.self, context: context)
        if let title = try validatedTitle(body.title) {
            guard try await state.store.renameConversation(id: conversation.id, userID: user.id, title: title) else {
                throw HTTPError(.notFound)
            }
        }
        if body.model != nil || body.systemPrompt != nil || body.temperature != nil || body.maxTokens != nil
            || body.clearsTemperature || body.clearsMaxTokens
        {
            let settings = try validated(body, base: conversation.settings)
            guard try await state.store.updateSettings(conversationID: conversation.id, userID: user.id, settings) else {
                throw HTTPError(.notFound)
            }
        }
        return .noContent
    }

    @Sendable func delete(_ request: Request, context: ChatRequestContext) async throws -> HTTPResponse.Status {
        let user = try context.requireUser()
        let id = try context.parameters.require("id")
        guard try await state.store.deleteConversation(id: id, userID: user.id) else { throw HTTPError(.notFound) }
        return .noContent
    }

    struct ContentBody: Decodable {
        var content: String
    }

    /// The answer's path is kept to few statements (a read, then one transaction), since every
    /// statement is a round trip to the database's threads or server before the model is asked.
    @Sendable func send(_ request: Request, context: ChatRequestContext) async throws -> Response {
        let user = try context.requireUser()
        var (conversation, messages) = try await conversationWithMessages(context)
        let content = try await messageContent(request, context)
        try await checkRateLimit(user)
        let title = conversation.title == Self.defaultTitle ? Self.title(from: content) : nil
        guard
            let stored = try await state.store.appendMessages(
                [NewMessage(role: .user, content: content), NewMessage(role: .assistant, content: "", state: .streaming)],
                conversationID: conversation.id, userID: user.id, retitle: title.map { (Self.defaultTitle, $0) })
        else { throw HTTPError(.notFound) }
        if let title { conversation.title = title }
        logReceived(content, conversation: conversation, context: context)
        return AnswerStreamer(state: state, eventLoop: context.eventLoop).response(
            conversation: conversation, history: messages + [stored[0]], answer: stored[1], userMessage: stored[0])
    }

    @Sendable func regenerate(_ request: Request, context: ChatRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let (conversation, messages) = try await conversationWithMessages(context)
        try await checkRateLimit(user)
        guard let last = messages.last else {
            throw HTTPError(.conflict, message: "There is no answer to regenerate yet.")
        }
        let replacing = last.role == .assistant ? last.sequence : nil
        guard
            let stored = try await state.store.appendMessages(
                [NewMessage(role: .assistant, content: "", state: .streaming)], conversationID: conversation.id,
                userID: user.id, replacingFrom: replacing)
        else { throw HTTPError(.notFound) }
        return AnswerStreamer(state: state, eventLoop: context.eventLoop).response(
            conversation: conversation, history: messages.filter { $0.sequence < stored[0].sequence }, answer: stored[0],
            userMessage: nil)
    }

    @Sendable func edit(_ request: Request, context: ChatRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let (conversation, messages) = try await conversationWithMessages(context)
        let content = try await messageContent(request, context)
        try await checkRateLimit(user)
        guard let lastQuestion = messages.last(where: { $0.role == .user }) else {
            throw HTTPError(.conflict, message: "There is no question to edit yet.")
        }
        guard
            let stored = try await state.store.appendMessages(
                [NewMessage(role: .user, content: content), NewMessage(role: .assistant, content: "", state: .streaming)],
                conversationID: conversation.id, userID: user.id, replacingFrom: lastQuestion.sequence)
        else { throw HTTPError(.notFound) }
        logReceived(content, conversation: conversation, context: context)
        return AnswerStreamer(state: state, eventLoop: context.eventLoop).response(
            conversation: conversation, history: messages.filter { $0.sequence < lastQuestion.sequence } + [stored[0]],
            answer: stored[1], userMessage: stored[0])
    }

    @Sendable func exportMarkdown(_ request: Request, context: ChatRequestContext) async throws -> Response {
        let (conversation, messages) = try await conversationWithMessages(context)
        var text = "# \(conversation.title)\n\n"
        if !conversation.settings.systemPrompt.isEmpty {
            text += "_System prompt:_ \(conversation.settings.systemPrompt)\n\n"
        }
        for message in messages {
            text += message.role == .user ? "## You\n\n" : "## Assistant\(message.model.map { " (\($0))" } ?? "")\n\n"
            text += message.content + "\n\n"
            if message.state != .complete { text += "_(\(message.state.rawValue))_\n\n" }
        }
        return download(text, type: "text/markdown; charset=utf-8", name: "\(conversation.id).md")
    }

    struct ExportedConversation: Encodable {
        struct ExportedMessage: Encodable {
            var role: String
            var content: String
            var state: String
            var error: String?
            var model: String?
            var createdAt: Date
            var stats: MessageStats
        }

        var id: String
        var title: String
        var settings: ConversationSettings
        var createdAt: Date
        var messages: [ExportedMessage]
    }

    @Sendable func exportJSON(_ request: Request, context: ChatRequestContext) async throws -> Response {
        let (conversation, messages) = try await conversationWithMessages(context)
        let exported = ExportedConversation(
            id: conversation.id, title: conversation.title, settings: conversation.settings,
            createdAt: conversation.createdAt,
            messages: messages.map {
                .init(
                    role: $0.role.rawValue, content: $0.content, state: $0.state.rawValue, error: $0.error, model: $0.model,
                    createdAt: $0.createdAt, stats: $0.stats)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(exported)
        return download(String(decoding: data, as: UTF8.self), type: "application/json", name: "\(conversation.id).json")
    }

    // MARK: Helpers

    private func owned(_ context: ChatRequestContext) async throws -> Conversation {
        let user = try context.requireUser()
        let id = try context.parameters.require("id")
        guard let conversation = try await state.store.conversation(id: id, userID: user.id) else {
            throw HTTPError(.notFound, message: "No such conversation.")
        }
        return conversation
    }

    private func conversationWithMessages(_ context: ChatRequestContext) async throws -> (Conversation, [Message]) {
        let user = try context.requireUser()
        let id = try context.parameters.require("id")
        guard let found = try await state.store.conversationWithMessages(id: id, userID: user.id) else {
            throw HTTPError(.notFound, message: "No such conversation.")
        }
        return found
    }

    private func messageContent(_ request: Request, _ context: ChatRequestContext) async throws -> String {
        let limit = state.configuration.maxMessageBytes
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit + 1024)
        } catch {
            throw HTTPError(.contentTooLarge, message: "The message is longer than \(limit / 1024) KiB.")
        }
        guard let decoded = try? JSONDecoder().decode(ContentBody.self, from: Data(body.readableBytesView)) else {
            throw HTTPError(.badRequest, message: #"Send {"content": "your message"}."#)
        }
        let content = decoded.content.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !content.isEmpty else { throw HTTPError(.badRequest, message: "The message is empty.") }
        guard content.utf8.count <= limit else {
            throw HTTPError(.contentTooLarge, message: "The message is longer than \(limit / 1024) KiB.")
        }
        return content
    }

    private func checkRateLimit(_ user: User) async throws {
        let limit = state.configuration.messagesPerMinute
        guard limit > 0 else { return }
        let sent = try await state.store.userMessageCount(userID: user.id, since: Date().addingTimeInterval(-60))
        if sent >= limit {
            throw HTTPError(
                .tooManyRequests, headers: [.retryAfter: "60"],
                message: "You have sent \(limit) messages in the last minute; wait a minute before sending more.")
        }
    }

    private func validatedTitle(_ title: String?) throws -> String? {
        guard let title = title?.trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        guard !title.isEmpty, title.count <= 200 else {
            throw HTTPError(.badRequest, message: "A title has 1 to 200 characters.")
        }
        return title
    }

    private func validated(_ body: SettingsBody?, base: ConversationSettings) throws -> ConversationSettings {
        var settings = base
        guard let body else { return settings }
        if let model = body.model { settings.model = model.isEmpty ? nil : String(model.prefix(200)) }
        if let prompt = body.systemPrompt {
            guard prompt.utf8.count <= state.configuration.maxMessageBytes else {
                throw HTTPError(.badRequest, message: "The system prompt is too long.")
            }
            settings.systemPrompt = prompt
        }
        if let temperature = body.temperature {
            guard (0...2).contains(temperature) else {
                throw HTTPError(.badRequest, message: "Temperature is between 0 and 2.")
            }
            settings.temperature = temperature
        }
        if body.clearsTemperature { settings.temperature = nil }
        if body.clearsMaxTokens { settings.maxTokens = nil }
        if let maxTokens = body.maxTokens {
            guard maxTokens >= 0, maxTokens <= 1_000_000 else {
                throw HTTPError(.badRequest, message: "Max tokens is a positive number (0: the service's default).")
            }
            settings.maxTokens = maxTokens == 0 ? nil : maxTokens
        }
        return settings
    }

    private func decodeIfPresent<T: Decodable>(_ type: T.Type, _ request: Request, _ context: ChatRequestContext) async throws -> T? {
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard body.readableBytes > 0 else { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "The request body is not the JSON expected.")
        }
    }

    private func download(_ text: String, type: String, name: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .contentDisposition: "attachment; filename=\"\(name)\""],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func logReceived(_ content: String, conversation: Conversation, context: ChatRequestContext) {
        var metadata: Logger.Metadata = ["conversation": "\(conversation.id)", "bytes": "\(content.utf8.count)"]
        if state.configuration.logMessageText { metadata["text"] = "\(content)" }
        context.logger.info("message received", metadata: metadata)
    }

    /// A conversation's title from its first message: the first line, at most 60 characters.
    static func title(from content: String) -> String {
        let line = content.split(whereSeparator: \.isNewline).first.map(String.init) ?? content
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.count <= 60 ? trimmed : String(trimmed.prefix(59)) + "…"
    }
}

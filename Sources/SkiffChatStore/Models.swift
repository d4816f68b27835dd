import Foundation

/// A person who chats. In `--auth none` there is one, in `--auth header` one per proxy identity.
public struct User: Sendable, Equatable, Identifiable {
    public var id: String
    /// Unique login or proxy identity.
    public var name: String
    /// A bcrypt hash (`--auth password` only).
    public var passwordHash: String?
    /// Admins may add users.
    public var isAdmin: Bool
    public var createdAt: Date
}

/// A signed-in browser: the server keeps only a hash of the cookie's token.
public struct Session: Sendable, Equatable {
    /// Hash of the session cookie's value (the value itself is never stored).
    public var tokenHash: String
    public var userID: String
    /// The token every state-changing request must carry (form field or header).
    public var csrfToken: String
    public var createdAt: Date
    public var expiresAt: Date
}

/// Per-conversation generation settings; `nil` means the model service's default.
public struct ConversationSettings: Sendable, Equatable, Codable {
    /// Model id from the service's `GET /v1/models`.
    public var model: String?
    public var systemPrompt: String
    public var temperature: Double?
    public var maxTokens: Int?

    public init(model: String? = nil, systemPrompt: String = "", temperature: Double? = nil, maxTokens: Int? = nil) {
        self.model = model
        self.systemPrompt = systemPrompt
        self.temperature = temperature
        self.maxTokens = maxTokens
    }
}

/// A conversation and its settings (its messages are read apart).
public struct Conversation: Sendable, Equatable, Identifiable {
    public var id: String
    public var userID: String
    public var title: String
    public var settings: ConversationSettings
    public var createdAt: Date
    /// Moves forward whenever a message is added; the sidebar sorts by it.
    public var updatedAt: Date
}

/// Who wrote a message.
public enum MessageRole: String, Sendable, Codable {
    case user
    case assistant
}

/// Where a message stands. A user's message is `complete` from the start; an answer is `streaming`
/// while tokens arrive and ends in one of the other states.
public enum MessageState: String, Sendable, Codable {
    /// The whole answer arrived.
    case complete
    /// Tokens are arriving (or the replica streaming it died: see `Message.updatedAt`).
    case streaming
    /// The user stopped it; the text is what arrived before.
    case stopped
    /// The stream broke off (model service stopped, network cut, replica shut down); the text is partial.
    case interrupted
    /// No answer: the model service refused or could not be reached (see `Message.error`).
    case failed
}

/// What the model service reported about one answer.
public struct MessageStats: Sendable, Equatable, Codable {
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Milliseconds from sending the request to the first token.
    public var timeToFirstTokenMilliseconds: Double?
    /// Milliseconds from sending the request to the last token.
    public var durationMilliseconds: Double?
    /// How many of the conversation's oldest messages the request left out to fit the model's context.
    public var omittedMessages: Int?

    public init(
        promptTokens: Int? = nil, completionTokens: Int? = nil, timeToFirstTokenMilliseconds: Double? = nil,
        durationMilliseconds: Double? = nil, omittedMessages: Int? = nil
    ) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        self.omittedMessages = omittedMessages
        self.durationMilliseconds = durationMilliseconds
    }
}

/// One message of a conversation.
public struct Message: Sendable, Equatable, Identifiable {
    public var id: String
    public var conversationID: String
    /// Position in the conversation, from 1.
    public var sequence: Int
    public var role: MessageRole
    public var content: String
    public var state: MessageState
    /// A user-facing explanation when the state is `interrupted` or `failed`.
    public var error: String?
    /// The model that wrote an answer.
    public var model: String?
    public var stats: MessageStats
    public var createdAt: Date
    public var updatedAt: Date
}

/// A message to add.
public struct NewMessage: Sendable, Equatable {
    public var role: MessageRole
    public var content: String
    public var state: MessageState
    public var model: String?

    public init(role: MessageRole, content: String, state: MessageState = .complete, model: String? = nil) {
        self.role = role
        self.content = content
        self.state = state
        self.model = model
    }
}

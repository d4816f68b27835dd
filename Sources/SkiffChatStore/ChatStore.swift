import Foundation
import Logging

/// Everything the chat tier keeps: users, sessions, conversations and messages, in SQLite or PostgreSQL.
///
/// Nothing is cached in memory, so any replica can serve any request. Every method that touches a
/// conversation takes the id of the user asking and behaves as if another user's conversation did not
/// exist (`nil` / `false`), so the web layer answers 404, never 403.
///
/// Run ``run()`` (or put the store in a `ServiceGroup`) for as long as the store is used; call
/// ``migrate()`` once at start.
public final class ChatStore: Sendable {
    private let backend: any SQLBackend
    /// Where the data lives (password redacted in its description).
    public let url: DatabaseURL
    private let logger: Logger

    private init(backend: any SQLBackend, url: DatabaseURL, logger: Logger) {
        self.backend = backend
        self.url = url
        self.logger = logger
    }

    /// Opens the database. For SQLite this creates the file; for PostgreSQL connections are made on
    /// first use (while ``run()`` runs).
    public static func open(_ url: DatabaseURL, logger: Logger) async throws(ChatStoreError) -> ChatStore {
        switch url {
        case .sqlite(let path):
            return ChatStore(backend: try await SQLiteBackend.open(path: path, logger: logger), url: url, logger: logger)
        case .postgres(let location):
            return ChatStore(backend: PostgresBackend(location: location, logger: logger), url: url, logger: logger)
        }
    }

    /// Opens the store, runs it, migrates it, passes it to `body` and closes it when `body` returns.
    public static func withStore<T: Sendable>(
        _ url: DatabaseURL, logger: Logger, _ body: @Sendable (ChatStore) async throws -> T
    ) async throws -> T {
        let store = try await open(url, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }

    /// Keeps connections alive until the task is cancelled (or, in a `ServiceGroup`, shut down), then
    /// closes them.
    public func run() async {
        await backend.run()
        await backend.shutdown()
    }

    // MARK: Schema

    /// Brings the schema to the newest version. Idempotent, and safe when several replicas start at once:
    /// the steps run in one exclusive transaction, so the first replica migrates and the others find the
    /// work done.
    /// - Returns: the versions this call applied (empty when the schema was current).
    @discardableResult
    public func migrate() async throws(ChatStoreError) -> [Int] {
        try await migrate(through: Migrations.latestVersion)
    }

    /// Brings the schema to `lastVersion` (tests start from an older schema this way).
    func migrate(through lastVersion: Int) async throws(ChatStoreError) -> [Int] {
        do {
            let applied = try await backend.transaction(exclusive: true) { db throws(ChatStoreError) in
                _ = try await db.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                    [])
                let done = Set(try await db.query("SELECT version FROM schema_migrations", []).map { row throws(ChatStoreError) in try row.int("version") })
                if let newest = done.max(), newest > Migrations.latestVersion {
                    throw ChatStoreError(
                        .migrationFailed,
                        "the database schema is at version \(newest), newer than this skiff-chat knows (\(Migrations.latestVersion)); run a newer skiff-chat"
                    )
                }
                var applied: [Int] = []
                for step in Migrations.steps where !done.contains(step.version) && step.version <= lastVersion {
                    for statement in step.statements {
                        _ = try await db.query(statement, [])
                    }
                    _ = try await db.query(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                        [.integer(Int64(step.version)), SQLValue(Date())])
                    applied.append(step.version)
                }
                return applied
            }
            if !applied.isEmpty {
                logger.info("database schema migrated", metadata: ["versions": "\(applied)", "database": "\(url)"])
            }
            return applied
        } catch where error.code == .migrationFailed {
            throw error
        } catch {
            throw ChatStoreError(.migrationFailed, "schema migration failed on \(url): \(error.message)", underlying: error)
        }
    }

    /// Checks that the database answers (for `/ready`).
    public func ping() async throws(ChatStoreError) {
        _ = try await backend.query("SELECT 1 AS one", [])
    }

    // MARK: Users

    /// Adds a user. The first user of the database becomes an admin when `adminIfFirst` is set (decided
    /// inside one exclusive transaction, so two simultaneous sign-ups cannot both become the first).
    /// - Returns: `nil` when the name is taken.
    public func createUser(name: String, passwordHash: String?, isAdmin: Bool = false, adminIfFirst: Bool = false)
        async throws(ChatStoreError) -> User?
    {
        let id = Self.newID()
        let now = Date()
        return try await backend.transaction(exclusive: adminIfFirst) { db throws(ChatStoreError) in
            var admin = isAdmin
            if adminIfFirst, try await db.query("SELECT id FROM users LIMIT 1", []).isEmpty {
                admin = true
            }
            let rows = try await db.query(
                """
                INSERT INTO users (id, name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (name) DO NOTHING RETURNING id
                """,
                [.text(id), .text(name), SQLValue(passwordHash), SQLValue(admin), SQLValue(now)])
            guard !rows.isEmpty else { return nil }
            return User(id: id, name: name, passwordHash: passwordHash, isAdmin: admin, createdAt: Self.rounded(now))
        }
    }

    /// The user with this name, created (without password) if absent: for `--auth none` and `--auth header`.
    public func ensureUser(name: String) async throws(ChatStoreError) -> User {
        if let user = try await user(named: name) { return user }
        _ = try await createUser(name: name, passwordHash: nil)
        guard let user = try await user(named: name) else {
            throw ChatStoreError(.query, "user '\(name)' vanished right after it was created")
        }
        return user
    }

    public func user(named name: String) async throws(ChatStoreError) -> User? {
        try await backend.query("SELECT * FROM users WHERE name = $1", [.text(name)]).first.map(Self.user)
    }

    public func user(id: String) async throws(ChatStoreError) -> User? {
        try await backend.query("SELECT * FROM users WHERE id = $1", [.text(id)]).first.map(Self.user)
    }

    /// Every user, oldest first.
    public func users() async throws(ChatStoreError) -> [User] {
        try await backend.query("SELECT * FROM users ORDER BY created_at, name", []).map(Self.user)
    }

    public func userCount() async throws(ChatStoreError) -> Int {
        try await backend.query("SELECT COUNT(*) AS n FROM users", []).first?.int("n") ?? 0
    }

    // MARK: Sessions

    /// Stores a new session for `userID`.
    public func createSession(tokenHash: String, userID: String, csrfToken: String, expiresAt: Date)
        async throws(ChatStoreError) -> Session
    {
        let now = Date()
        _ = try await backend.query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            [.text(tokenHash), .text(userID), .text(csrfToken), SQLValue(now), SQLValue(expiresAt)])
        return Session(
            tokenHash: tokenHash, userID: userID, csrfToken: csrfToken, createdAt: Self.rounded(now),
            expiresAt: Self.rounded(expiresAt))
    }

    /// The unexpired session with this token hash and its user.
    public func session(tokenHash: String, now: Date = Date()) async throws(ChatStoreError) -> (Session, User)? {
        let rows = try await backend.query(
            """
            SELECT s.token_hash, s.csrf_token, s.created_at AS session_created_at, s.expires_at, u.*
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = $1 AND s.expires_at > $2
            """,
            [.text(tokenHash), SQLValue(now)])
        guard let row = rows.first else { return nil }
        let user = try Self.user(row)
        let session = Session(
            tokenHash: try row.string("token_hash"), userID: user.id, csrfToken: try row.string("csrf_token"),
            createdAt: try row.date("session_created_at"), expiresAt: try row.date("expires_at"))
        return (session, user)
    }

    public func deleteSession(tokenHash: String) async throws(ChatStoreError) {
        _ = try await backend.query("DELETE FROM sessions WHERE token_hash = $1", [.text(tokenHash)])
    }

    /// Removes expired sessions. - Returns: how many.
    @discardableResult
    public func deleteExpiredSessions(now: Date = Date()) async throws(ChatStoreError) -> Int {
        try await backend.query("DELETE FROM sessions WHERE expires_at <= $1 RETURNING token_hash", [SQLValue(now)]).count
    }

    // MARK: Conversations

    public func createConversation(userID: String, title: String, settings: ConversationSettings = .init())
        async throws(ChatStoreError) -> Conversation
    {
        let conversation = Conversation(
            id: Self.newID(), userID: userID, title: title, settings: settings, createdAt: Self.rounded(Date()),
            updatedAt: Self.rounded(Date()))
        _ = try await backend.query(
            """
            INSERT INTO conversations (id, user_id, title, model, system_prompt, temperature, max_tokens, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            [
                .text(conversation.id), .text(userID), .text(title), SQLValue(settings.model),
                .text(settings.systemPrompt), SQLValue(settings.temperature), SQLValue(settings.maxTokens),
                SQLValue(conversation.createdAt), SQLValue(conversation.updatedAt),
            ])
        return conversation
    }

    /// The user's conversations, most recently active first.
    public func conversations(userID: String, limit: Int = 200) async throws(ChatStoreError) -> [Conversation] {
        try await backend.query(
            "SELECT * FROM conversations WHERE user_id = $1 ORDER BY updated_at DESC, id LIMIT $2",
            [.text(userID), .integer(Int64(limit))]
        ).map(Self.conversation)
    }

    /// One conversation, or `nil` when it does not exist or belongs to someone else.
    public func conversation(id: String, userID: String) async throws(ChatStoreError) -> Conversation? {
        try await backend.query(
            "SELECT * FROM conversations WHERE id = $1 AND user_id = $2", [.text(id), .text(userID)]
        ).first.map(Self.conversation)
    }

    /// Conversations whose title or any message contains `text` (case-insensitively for ASCII letters on
    /// SQLite, for all letters on PostgreSQL), most recently active first.
    public func searchConversations(userID: String, text: String, limit: Int = 50) async throws(ChatStoreError)
        -> [Conversation]
    {
        let pattern = "%" + Self.escapeLike(text) + "%"
        return try await backend.query(
            """
            SELECT * FROM conversations c
            WHERE c.user_id = $1 AND (
                LOWER(c.title) LIKE LOWER($2) ESCAPE '\\'
                OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND LOWER(m.content) LIKE LOWER($2) ESCAPE '\\')
            )
            ORDER BY c.updated_at DESC, c.id LIMIT $3
            """,
            [.text(userID), .text(pattern), .integer(Int64(limit))]
        ).map(Self.conversation)
    }

    /// - Returns: `false` when the conversation does not exist or belongs to someone else.
    public func renameConversation(id: String, userID: String, title: String) async throws(ChatStoreError) -> Bool {
        try await !backend.query(
            "UPDATE conversations SET title = $1 WHERE id = $2 AND user_id = $3 RETURNING id",
            [.text(title), .text(id), .text(userID)]
        ).isEmpty
    }

    /// - Returns: `false` when the conversation does not exist or belongs to someone else.
    public func updateSettings(conversationID: String, userID: String, _ settings: ConversationSettings)
        async throws(ChatStoreError) -> Bool
    {
        try await !backend.query(
            """
            UPDATE conversations SET model = $1, system_prompt = $2, temperature = $3, max_tokens = $4
            WHERE id = $5 AND user_id = $6 RETURNING id
            """,
            [
                SQLValue(settings.model), .text(settings.systemPrompt), SQLValue(settings.temperature),
                SQLValue(settings.maxTokens), .text(conversationID), .text(userID),
            ]
        ).isEmpty
    }

    /// Deletes the conversation and its messages.
    /// - Returns: `false` when the conversation does not exist or belongs to someone else.
    public func deleteConversation(id: String, userID: String) async throws(ChatStoreError) -> Bool {
        try await backend.transaction(exclusive: false) { db throws(ChatStoreError) in
            let owned = try await db.query(
                "SELECT id FROM conversations WHERE id = $1 AND user_id = $2", [.text(id), .text(userID)])
            guard !owned.isEmpty else { return false }
            // Explicit, so it does not depend on the connection enabling foreign keys.
            _ = try await db.query("DELETE FROM messages WHERE conversation_id = $1", [.text(id)])
            _ = try await db.query("DELETE FROM conversations WHERE id = $1", [.text(id)])
            return true
        }
    }

    // MARK: Messages

    /// The conversation's messages in order, or `nil` when it does not exist or belongs to someone else.
    public func messages(conversationID: String, userID: String) async throws(ChatStoreError) -> [Message]? {
        try await conversationWithMessages(id: conversationID, userID: userID)?.1
    }

    /// The conversation and its messages in order, read in one query, or `nil` when it does not exist
    /// or belongs to someone else.
    public func conversationWithMessages(id: String, userID: String) async throws(ChatStoreError)
        -> (Conversation, [Message])?
    {
        let messageColumns = Self.messageColumns.map { "m.\($0) AS m_\($0)" }.joined(separator: ", ")
        let rows = try await backend.query(
            """
            SELECT c.*, \(messageColumns) FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id
            WHERE c.id = $1 AND c.user_id = $2 ORDER BY m.seq
            """,
            [.text(id), .text(userID)])
        guard let first = rows.first else { return nil }
        // A conversation without messages yields one row with null message columns from the outer join.
        let messages = try rows.filter { $0.columns["m_id"] != .null }.map { row throws(ChatStoreError) in
            try Self.message(row, prefix: "m_")
        }
        return (try Self.conversation(first), messages)
    }

    /// Appends messages to a conversation in one transaction, first deleting every message from
    /// `replacingFrom` (a sequence number) on when given: regenerate replaces the last answer,
    /// edit-and-resend replaces the last question and its answer. With `retitle`, a conversation still
    /// titled `retitle.from` is renamed `retitle.to` in the same statement that marks it active.
    /// - Returns: the stored messages, or `nil` when the conversation does not exist or belongs to
    ///   someone else.
    public func appendMessages(
        _ newMessages: [NewMessage], conversationID: String, userID: String, replacingFrom: Int? = nil,
        retitle: (from: String, to: String)? = nil
    ) async throws(ChatStoreError) -> [Message]? {
        let now = Self.rounded(Date())
        let ids = newMessages.map { _ in Self.newID() }
        var update = "UPDATE conversations SET updated_at = $1"
        var updateBinds: [SQLValue] = [SQLValue(now), .text(conversationID), .text(userID)]
        if let retitle {
            update += ", title = CASE WHEN title = $4 THEN $5 ELSE title END"
            updateBinds += [.text(retitle.from), .text(retitle.to)]
        }
        update += " WHERE id = $2 AND user_id = $3 RETURNING id"
        return try await backend.transaction(exclusive: false) { [update, updateBinds] db throws(ChatStoreError) in
            // Updating the conversation first locks its row (PostgreSQL), so concurrent appends to one
            // conversation take their sequence numbers one after the other.
            guard !(try await db.query(update, updateBinds)).isEmpty else { return nil }
            if let replacingFrom {
                _ = try await db.query(
                    "DELETE FROM messages WHERE conversation_id = $1 AND seq >= $2",
                    [.text(conversationID), .integer(Int64(replacingFrom))])
            }
            var stored: [Message] = []
            for (message, id) in zip(newMessages, ids) {
                let inserted = try await db.query(
                    """
                    INSERT INTO messages (id, conversation_id, seq, role, content, state, model, created_at, updated_at)
                    VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = $2),
                            $3, $4, $5, $6, $7, $7)
                    RETURNING seq
                    """,
                    [
                        .text(id), .text(conversationID), .text(message.role.rawValue),
                        .text(message.content), .text(message.state.rawValue), SQLValue(message.model), SQLValue(now),
                    ])
                guard let next = try inserted.first?.int("seq") else {
                    throw ChatStoreError(.corruptRow, "inserting a message returned no sequence number")
                }
                stored.append(
                    Message(
                        id: id, conversationID: conversationID, sequence: next, role: message.role,
                        content: message.content, state: message.state, error: nil, model: message.model,
                        stats: MessageStats(), createdAt: now, updatedAt: now))
            }
            return stored
        }
    }

    /// Stores an answer's text and state as it streams and when it ends (and the model that wrote it,
    /// when given). Called by the replica that streams it, which has already checked the conversation's
    /// owner.
    /// - Returns: `false` when the message no longer exists (its conversation was deleted meanwhile).
    @discardableResult
    public func updateMessage(
        id: String, content: String, state: MessageState, error: String? = nil, stats: MessageStats = MessageStats(),
        model: String? = nil
    ) async throws(ChatStoreError) -> Bool {
        try await !backend.query(
            """
            UPDATE messages SET content = $1, state = $2, error = $3, prompt_tokens = $4, completion_tokens = $5,
                ttft_ms = $6, duration_ms = $7, updated_at = $8, model = COALESCE($10, model),
                omitted_messages = $11
            WHERE id = $9 RETURNING id
            """,
            [
                .text(content), .text(state.rawValue), SQLValue(error), SQLValue(stats.promptTokens),
                SQLValue(stats.completionTokens), SQLValue(stats.timeToFirstTokenMilliseconds),
                SQLValue(stats.durationMilliseconds), SQLValue(Date()), .text(id), SQLValue(model),
                SQLValue(stats.omittedMessages),
            ]
        ).isEmpty
    }

    /// How many messages the user sent since `since`, across replicas (for the per-user rate limit).
    public func userMessageCount(userID: String, since: Date) async throws(ChatStoreError) -> Int {
        try await backend.query(
            """
            SELECT COUNT(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE c.user_id = $1 AND c.updated_at >= $2 AND m.role = 'user' AND m.created_at >= $2
            """,
            [.text(userID), SQLValue(since)]
        ).first?.int("n") ?? 0
    }

    // MARK: Rows

    private static func user(_ row: SQLRow) throws(ChatStoreError) -> User {
        User(
            id: try row.string("id"), name: try row.string("name"), passwordHash: try row.optionalString("password_hash"),
            isAdmin: try row.bool("is_admin"), createdAt: try row.date("created_at"))
    }

    private static func conversation(_ row: SQLRow) throws(ChatStoreError) -> Conversation {
        Conversation(
            id: try row.string("id"), userID: try row.string("user_id"), title: try row.string("title"),
            settings: ConversationSettings(
                model: try row.optionalString("model"), systemPrompt: try row.string("system_prompt"),
                temperature: try row.optionalDouble("temperature"), maxTokens: try row.optionalInt("max_tokens")),
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"))
    }

    /// The columns of `messages`, for queries that name them.
    private static let messageColumns = [
        "id", "conversation_id", "seq", "role", "content", "state", "error", "model", "prompt_tokens",
        "completion_tokens", "ttft_ms", "duration_ms", "omitted_messages", "created_at", "updated_at",
    ]

    /// A message from `row`, whose message columns are named `prefix` + the column's name.
    private static func message(_ row: SQLRow, prefix: String) throws(ChatStoreError) -> Message {
        let roleText = try row.string(prefix + "role")
        let stateText = try row.string(prefix + "state")
        guard let role = MessageRole(rawValue: roleText), let state = MessageState(rawValue: stateText) else {
            throw ChatStoreError(.corruptRow, "message has unknown role '\(roleText)' or state '\(stateText)'")
        }
        return Message(
            id: try row.string(prefix + "id"), conversationID: try row.string(prefix + "conversation_id"),
            sequence: try row.int(prefix + "seq"), role: role, content: try row.string(prefix + "content"), state: state,
            error: try row.optionalString(prefix + "error"), model: try row.optionalString(prefix + "model"),
            stats: MessageStats(
                promptTokens: try row.optionalInt(prefix + "prompt_tokens"),
                completionTokens: try row.optionalInt(prefix + "completion_tokens"),
                timeToFirstTokenMilliseconds: try row.optionalDouble(prefix + "ttft_ms"),
                durationMilliseconds: try row.optionalDouble(prefix + "duration_ms"),
                omittedMessages: try row.optionalInt(prefix + "omitted_messages")),
            createdAt: try row.date(prefix + "created_at"), updatedAt: try row.date(prefix + "updated_at"))
    }

    // MARK: Values

    /// 128 random bits as 26 lowercase base-32 characters: unguessable, URL-safe.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        var characters: [Character] = []
        for _ in 0..<26 {
            characters.append(alphabet[Int(low & 31)])
            low = (low >> 5) | ((high & 31) << 59)
            high >>= 5
        }
        return String(characters)
    }

    /// A date as the store keeps it (whole milliseconds), so returned values equal re-read ones.
    static func rounded(_ date: Date) -> Date { Date(millisecondsSince1970: date.millisecondsSince1970) }

    static func escapeLike(_ text: String) -> String {
        var out = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out
    }
}

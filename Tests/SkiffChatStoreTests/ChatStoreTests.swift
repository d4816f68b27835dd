import Foundation
import Logging
import Testing

@testable import SkiffChatStore

/// The database kinds every store test runs against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A URL for a new, empty database of this kind.
    func makeDatabase() async throws -> DatabaseURL {
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory
                .appendingPathComponent("skiff-chat-tests-\(UUID().uuidString)/chat.db").path
            return .sqlite(path: path)
        case .postgres:
            let server = try #require(PostgresServer.current, "the suite must carry the .postgresServer trait")
            return try DatabaseURL(parsing: try await server.makeDatabase())
        }
    }
}

let testLogger = Logger(label: "skiff-chat-store-tests")

/// Opens and migrates a store on `url` for the body's duration.
func withStore<T: Sendable>(_ url: DatabaseURL, _ body: @Sendable (ChatStore) async throws -> T) async throws -> T {
    try await ChatStore.withStore(url, logger: testLogger, body)
}

@Suite(.postgresServer)
struct ChatStoreTests {
    @Test(arguments: Backend.allCases)
    func migrationsRunOnceAndAreIdempotent(backend: Backend) async throws {
        let url = try await backend.makeDatabase()
        let store = try await ChatStore.open(url, logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            #expect(try await store.migrate() == Migrations.steps.map(\.version))
            #expect(try await store.migrate() == [])
            try await store.ping()
            group.cancelAll()
        }
        // A second process (here a second store) finds the schema current.
        let applied = try await withStore(url) { try await $0.migrate() }
        #expect(applied == [])
    }

    @Test(arguments: Backend.allCases)
    func replicasStartingAtOnceMigrateExactlyOnceThenWrite(backend: Backend) async throws {
        let url = try await backend.makeDatabase()
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<6 {
                group.addTask {
                    let store = try await ChatStore.open(url, logger: testLogger)
                    return try await withThrowingTaskGroup(of: [Int].self) { inner in
                        inner.addTask {
                            await store.run()
                            return []
                        }
                        let applied = try await store.migrate()
                        // Then every replica writes at once: users, conversations and messages.
                        let user = try await store.ensureUser(name: "replica-\(UUID().uuidString)")
                        for turn in 0..<10 {
                            let conversation = try await store.createConversation(userID: user.id, title: "Turn \(turn)")
                            let added = try await store.appendMessages(
                                [NewMessage(role: .user, content: "question \(turn)"), NewMessage(role: .assistant, content: "answer")],
                                conversationID: conversation.id, userID: user.id)
                            #expect(added?.count == 2)
                        }
                        inner.cancelAll()
                        return applied
                    }
                }
            }
            var all: [[Int]] = []
            for try await applied in group { all.append(applied) }
            return all
        }
        #expect(results.count == 6)
        #expect(results.filter { $0 == Migrations.steps.map(\.version) }.count == 1)
        #expect(results.filter { $0.isEmpty }.count == 5)
    }

    @Test(arguments: Backend.allCases)
    func aDatabaseOfTheFirstSchemaKeepsItsConversationsThroughTheMigrations(backend: Backend) async throws {
        let url = try await backend.makeDatabase()
        let store = try await ChatStore.open(url, logger: testLogger)
        let (userID, conversationID) = try await withThrowingTaskGroup(of: (String, String)?.self) { group in
            group.addTask {
                await store.run()
                return nil
            }
            #expect(try await store.migrate(through: 1) == [1])
            let user = try await store.ensureUser(name: "ada")
            let conversation = try await store.createConversation(userID: user.id, title: "Old")
            _ = try await store.appendMessages(
                [NewMessage(role: .user, content: "Hi"), NewMessage(role: .assistant, content: "Hello")],
                conversationID: conversation.id, userID: user.id)
            group.cancelAll()
            return (user.id, conversation.id)
        }
        try await withStore(url) { store in
            let messages = try #require(try await store.messages(conversationID: conversationID, userID: userID))
            #expect(messages.map(\.content) == ["Hi", "Hello"])
            #expect(messages.allSatisfy { $0.stats.omittedMessages == nil })
            let answer = try #require(messages.last)
            #expect(try await store.updateMessage(
                id: answer.id, content: "Hello", state: .complete, stats: MessageStats(omittedMessages: 3)))
            #expect(try await store.messages(conversationID: conversationID, userID: userID)?.last?.stats.omittedMessages == 3)
        }
    }

    @Test(arguments: Backend.allCases)
    func usersAreUniqueAndTheFirstBecomesAdmin(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let first = try #require(try await store.createUser(name: "ada", passwordHash: "$2b$hash", adminIfFirst: true))
            #expect(first.isAdmin)
            let second = try #require(try await store.createUser(name: "bob", passwordHash: nil, adminIfFirst: true))
            #expect(!second.isAdmin)
            #expect(try await store.createUser(name: "ada", passwordHash: nil) == nil)
            #expect(try await store.user(named: "ada") == first)
            #expect(try await store.user(id: second.id) == second)
            #expect(try await store.user(named: "nobody") == nil)
            #expect(try await store.users().map(\.name) == ["ada", "bob"])
            let ensured = try await store.ensureUser(name: "carol")
            #expect(try await store.ensureUser(name: "carol") == ensured)
            #expect(try await store.userCount() == 3)
        }
    }

    @Test(arguments: Backend.allCases)
    func simultaneousSignUpsMakeOneAdmin(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let users = try await withThrowingTaskGroup(of: User?.self) { group in
                for index in 0..<8 {
                    group.addTask { try await store.createUser(name: "user\(index)", passwordHash: nil, adminIfFirst: true) }
                }
                var users: [User] = []
                for try await user in group { users.append(try #require(user)) }
                return users
            }
            #expect(users.filter(\.isAdmin).count == 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func sessionsExpireAndCanBeDeleted(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let user = try await store.ensureUser(name: "ada")
            let now = Date()
            let session = try await store.createSession(
                tokenHash: "hash1", userID: user.id, csrfToken: "csrf1", expiresAt: now.addingTimeInterval(60))
            _ = try await store.createSession(
                tokenHash: "hash2", userID: user.id, csrfToken: "csrf2", expiresAt: now.addingTimeInterval(-1))
            let found = try #require(try await store.session(tokenHash: "hash1", now: now))
            #expect(found.0 == session)
            #expect(found.1 == user)
            #expect(try await store.session(tokenHash: "hash2", now: now) == nil)
            #expect(try await store.session(tokenHash: "hash1", now: now.addingTimeInterval(61)) == nil)
            #expect(try await store.deleteExpiredSessions(now: now) == 1)
            try await store.deleteSession(tokenHash: "hash1")
            #expect(try await store.session(tokenHash: "hash1", now: now) == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func conversationsListNewestFirstAndKeepTheirSettings(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let user = try await store.ensureUser(name: "ada")
            let settings = ConversationSettings(model: "smollm2", systemPrompt: "Be brief.", temperature: 0.3, maxTokens: 64)
            let older = try await store.createConversation(userID: user.id, title: "Older", settings: settings)
            try await Task.sleep(for: .milliseconds(5))
            let newer = try await store.createConversation(userID: user.id, title: "Newer")
            #expect(try await store.conversations(userID: user.id).map(\.id) == [newer.id, older.id])
            #expect(try await store.conversation(id: older.id, userID: user.id)?.settings == settings)

            // A new message moves a conversation to the top.
            try await Task.sleep(for: .milliseconds(5))
            _ = try await store.appendMessages([NewMessage(role: .user, content: "hi")], conversationID: older.id, userID: user.id)
            #expect(try await store.conversations(userID: user.id).map(\.id) == [older.id, newer.id])

            #expect(try await store.renameConversation(id: newer.id, userID: user.id, title: "Renamed"))
            let changed = ConversationSettings(model: nil, systemPrompt: "", temperature: nil, maxTokens: 10)
            #expect(try await store.updateSettings(conversationID: newer.id, userID: user.id, changed))
            let reread = try #require(try await store.conversation(id: newer.id, userID: user.id))
            #expect(reread.title == "Renamed")
            #expect(reread.settings == changed)

            #expect(try await store.deleteConversation(id: older.id, userID: user.id))
            #expect(try await store.conversation(id: older.id, userID: user.id) == nil)
            #expect(try await store.messages(conversationID: older.id, userID: user.id) == nil)
            #expect(try await store.conversations(userID: user.id).map(\.id) == [newer.id])
        }
    }

    @Test(arguments: Backend.allCases)
    func anotherUsersConversationDoesNotExistForYou(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let owner = try await store.ensureUser(name: "owner")
            let intruder = try await store.ensureUser(name: "intruder")
            let conversation = try await store.createConversation(userID: owner.id, title: "Secret plans")
            _ = try await store.appendMessages(
                [NewMessage(role: .user, content: "the secret")], conversationID: conversation.id, userID: owner.id)

            #expect(try await store.conversation(id: conversation.id, userID: intruder.id) == nil)
            #expect(try await store.messages(conversationID: conversation.id, userID: intruder.id) == nil)
            #expect(try await store.conversationWithMessages(id: conversation.id, userID: intruder.id) == nil)
            #expect(try await store.conversations(userID: intruder.id).isEmpty)
            #expect(try await store.searchConversations(userID: intruder.id, text: "secret").isEmpty)
            #expect(try await !store.renameConversation(id: conversation.id, userID: intruder.id, title: "Mine"))
            #expect(try await !store.updateSettings(conversationID: conversation.id, userID: intruder.id, .init()))
            #expect(
                try await store.appendMessages(
                    [NewMessage(role: .user, content: "x")], conversationID: conversation.id, userID: intruder.id) == nil)
            #expect(try await !store.deleteConversation(id: conversation.id, userID: intruder.id))

            // Nothing changed for the owner.
            let kept = try #require(try await store.conversation(id: conversation.id, userID: owner.id))
            #expect(kept.title == "Secret plans")
            #expect(try await store.messages(conversationID: conversation.id, userID: owner.id)?.map(\.content) == ["the secret"])
        }
    }

    @Test(arguments: Backend.allCases)
    func messagesStreamAndAreReplacedForRegenerateAndEdit(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let user = try await store.ensureUser(name: "ada")
            let conversation = try await store.createConversation(userID: user.id, title: "Chat")
            #expect(try await store.messages(conversationID: conversation.id, userID: user.id) == [])

            // The question is stored with an empty answer before the model is asked.
            let first = try #require(
                try await store.appendMessages(
                    [
                        NewMessage(role: .user, content: "What is 2+2?"),
                        NewMessage(role: .assistant, content: "", state: .streaming, model: "smollm2"),
                    ], conversationID: conversation.id, userID: user.id))
            #expect(first.map(\.sequence) == [1, 2])
            let answer = first[1]
            #expect(try await store.updateMessage(id: answer.id, content: "It is", state: .streaming))
            var stored = try #require(try await store.messages(conversationID: conversation.id, userID: user.id))
            #expect(stored[1].content == "It is")
            #expect(stored[1].state == .streaming)

            let stats = MessageStats(
                promptTokens: 12, completionTokens: 3, timeToFirstTokenMilliseconds: 41.5, durationMilliseconds: 90.25)
            #expect(try await store.updateMessage(id: answer.id, content: "It is 4.", state: .complete, stats: stats))
            stored = try #require(try await store.messages(conversationID: conversation.id, userID: user.id))
            #expect(stored.map(\.role) == [.user, .assistant])
            #expect(stored[1].content == "It is 4.")
            #expect(stored[1].state == .complete)
            #expect(stored[1].stats == stats)
            #expect(stored[1].model == "smollm2")

            // Regenerate: the last answer is replaced.
            let regenerated = try #require(
                try await store.appendMessages(
                    [NewMessage(role: .assistant, content: "", state: .streaming)], conversationID: conversation.id,
                    userID: user.id, replacingFrom: 2))
            #expect(regenerated.map(\.sequence) == [2])
            #expect(try await store.updateMessage(id: answer.id, content: "gone", state: .complete) == false)
            #expect(
                try await store.updateMessage(
                    id: regenerated[0].id, content: "Four", state: .interrupted, error: "The model service stopped."))

            // Edit and resend: the question and its answer are replaced.
            let edited = try #require(
                try await store.appendMessages(
                    [NewMessage(role: .user, content: "What is 3+3?"), NewMessage(role: .assistant, content: "", state: .streaming)],
                    conversationID: conversation.id, userID: user.id, replacingFrom: 1))
            #expect(edited.map(\.sequence) == [1, 2])
            stored = try #require(try await store.messages(conversationID: conversation.id, userID: user.id))
            #expect(stored.map(\.content) == ["What is 3+3?", ""])
            #expect(stored == edited)
        }
    }

    @Test(arguments: Backend.allCases)
    func conversationAndMessagesInOneReadAndRetitleOnAppend(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let user = try await store.ensureUser(name: "ada")
            let conversation = try await store.createConversation(userID: user.id, title: "New chat")
            let empty = try #require(try await store.conversationWithMessages(id: conversation.id, userID: user.id))
            #expect(empty.0 == conversation)
            #expect(empty.1 == [])

            // The first question names a conversation still carrying the default title ...
            let first = try #require(
                try await store.appendMessages(
                    [NewMessage(role: .user, content: "Say hello"), NewMessage(role: .assistant, content: "Hello", state: .complete)],
                    conversationID: conversation.id, userID: user.id, retitle: ("New chat", "Say hello")))
            #expect(first.map(\.sequence) == [1, 2])
            let afterFirst = try #require(try await store.conversationWithMessages(id: conversation.id, userID: user.id))
            #expect(afterFirst.0.title == "Say hello")
            #expect(afterFirst.0.updatedAt >= conversation.updatedAt)
            #expect(afterFirst.1 == first)
            #expect(afterFirst.1 == (try await store.messages(conversationID: conversation.id, userID: user.id)))

            // ... but not one the user renamed meanwhile.
            #expect(try await store.renameConversation(id: conversation.id, userID: user.id, title: "Greetings"))
            let second = try #require(
                try await store.appendMessages(
                    [NewMessage(role: .user, content: "Again")], conversationID: conversation.id, userID: user.id,
                    retitle: ("New chat", "Again")))
            #expect(second.map(\.sequence) == [3])
            let afterSecond = try #require(try await store.conversationWithMessages(id: conversation.id, userID: user.id))
            #expect(afterSecond.0.title == "Greetings")
            #expect(afterSecond.1.map(\.content) == ["Say hello", "Hello", "Again"])
        }
    }

    @Test(arguments: Backend.allCases)
    func searchFindsTitlesAndTextCaseInsensitively(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let user = try await store.ensureUser(name: "ada")
            let recipes = try await store.createConversation(userID: user.id, title: "Bread Recipes")
            let math = try await store.createConversation(userID: user.id, title: "Homework")
            _ = try await store.appendMessages(
                [NewMessage(role: .user, content: "Prove that 100% of primes > 2 are odd_numbers")],
                conversationID: math.id, userID: user.id)
            #expect(try await store.searchConversations(userID: user.id, text: "bread").map(\.id) == [recipes.id])
            #expect(try await store.searchConversations(userID: user.id, text: "PRIMES").map(\.id) == [math.id])
            // LIKE's wildcards in the search text are matched literally.
            #expect(try await store.searchConversations(userID: user.id, text: "100%").map(\.id) == [math.id])
            #expect(try await store.searchConversations(userID: user.id, text: "odd_n").map(\.id) == [math.id])
            #expect(try await store.searchConversations(userID: user.id, text: "%").map(\.id) == [math.id])
            #expect(try await store.searchConversations(userID: user.id, text: "o_d").isEmpty)
            #expect(try await store.searchConversations(userID: user.id, text: "cake").isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func userMessageCountCoversEveryConversation(backend: Backend) async throws {
        try await withStore(try await backend.makeDatabase()) { store in
            let user = try await store.ensureUser(name: "ada")
            let other = try await store.ensureUser(name: "bob")
            let start = Date().addingTimeInterval(-1)
            for title in ["a", "b"] {
                let conversation = try await store.createConversation(userID: user.id, title: title)
                _ = try await store.appendMessages(
                    [NewMessage(role: .user, content: "q"), NewMessage(role: .assistant, content: "a")],
                    conversationID: conversation.id, userID: user.id)
            }
            let theirs = try await store.createConversation(userID: other.id, title: "c")
            _ = try await store.appendMessages([NewMessage(role: .user, content: "q")], conversationID: theirs.id, userID: other.id)
            #expect(try await store.userMessageCount(userID: user.id, since: start) == 2)
            #expect(try await store.userMessageCount(userID: other.id, since: start) == 1)
            #expect(try await store.userMessageCount(userID: user.id, since: Date().addingTimeInterval(60)) == 0)
        }
    }

    @Test(arguments: Backend.allCases)
    func aConversationStartedOnOneReplicaContinuesOnAnother(backend: Backend) async throws {
        let url = try await backend.makeDatabase()
        let (userID, conversationID) = try await withStore(url) { replicaA in
            let user = try await replicaA.ensureUser(name: "ada")
            let conversation = try await replicaA.createConversation(userID: user.id, title: "Across replicas")
            _ = try await replicaA.appendMessages(
                [NewMessage(role: .user, content: "first"), NewMessage(role: .assistant, content: "one")],
                conversationID: conversation.id, userID: user.id)
            return (user.id, conversation.id)
        }
        try await withStore(url) { replicaB in
            let appended = try #require(
                try await replicaB.appendMessages(
                    [NewMessage(role: .user, content: "second")], conversationID: conversationID, userID: userID))
            #expect(appended.map(\.sequence) == [3])
            let messages = try #require(try await replicaB.messages(conversationID: conversationID, userID: userID))
            #expect(messages.map(\.content) == ["first", "one", "second"])
        }
    }

    @Test(arguments: Backend.allCases)
    func concurrentAppendsFromTwoReplicasGetDistinctSequenceNumbers(backend: Backend) async throws {
        let url = try await backend.makeDatabase()
        try await withStore(url) { replicaA in
            try await withStore(url) { replicaB in
                let user = try await replicaA.ensureUser(name: "ada")
                let conversation = try await replicaA.createConversation(userID: user.id, title: "Busy")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<20 {
                        let store = index.isMultiple(of: 2) ? replicaA : replicaB
                        group.addTask {
                            _ = try await store.appendMessages(
                                [NewMessage(role: .user, content: "m\(index)")], conversationID: conversation.id, userID: user.id)
                        }
                    }
                    try await group.waitForAll()
                }
                let messages = try #require(try await replicaB.messages(conversationID: conversation.id, userID: user.id))
                #expect(messages.map(\.sequence) == Array(1...20))
                #expect(Set(messages.map(\.content)).count == 20)
            }
        }
    }
}

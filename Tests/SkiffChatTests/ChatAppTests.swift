import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SkiffChatStore
import SkiffChatTestSupport
import SkiffChatUpstream
import Testing

@testable import SkiffChat

/// A browser's state: its session cookie and the page's CSRF token.
struct Browser {
    var cookie: String?
    var csrf: String?

    var headers: HTTPFields {
        var fields = HTTPFields()
        if let cookie { fields[.cookie] = cookie }
        if let csrf { fields[HeaderName("X-CSRF-Token")!] = csrf }
        fields[.contentType] = "application/json"
        return fields
    }

    /// Takes the cookie and token from a page response.
    mutating func read(_ response: TestResponse) {
        if let setCookie = response.headers[.setCookie], let value = setCookie.split(separator: ";").first {
            cookie = String(value)
        }
        let html = String(buffer: response.body)
        for marker in [#"<meta name="csrf-token" content=""#, #"name="_csrf" value=""#] {
            if let range = html.range(of: marker) {
                csrf = String(html[range.upperBound...].prefix(while: { $0 != "\"" }))
                break
            }
        }
    }
}

/// Runs `body` against a live chat app on a fresh SQLite database, in front of the stand-in upstream.
func withChatApp(
    configure: @Sendable (inout ChatConfiguration) -> Void = { _ in },
    _ body: @Sendable (any TestClientProtocol, ChatState, StandInUpstream) async throws -> Void
) async throws {
    try await StandInUpstream.with { standIn in
        var configuration = ChatConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.llmURL = standIn.baseURL
        configuration.database = .sqlite(
            path: FileManager.default.temporaryDirectory.appendingPathComponent("skiff-chat-app-\(UUID().uuidString)/chat.db").path)
        configure(&configuration)
        var logger = Logger(label: "chat-app-tests")
        logger.logLevel = .warning
        let finalConfiguration = configuration
        let logged = logger
        try await ChatStore.withStore(configuration.database, logger: logger) { store in
            let upstream = UpstreamClient(configuration: .init(baseURL: finalConfiguration.llmURL, idleTimeout: .seconds(60)))
            let state = ChatState(
                configuration: finalConfiguration, store: store, upstream: upstream,
                templates: try await ChatServer.loadTemplates(), logger: logged)
            let app = ChatApplication.make(state: state, onServerRunning: { _ in }, logger: logged)
            do {
                try await app.test(.live) { client in try await body(client, state, standIn) }
            } catch {
                try? await upstream.shutdown()
                throw error
            }
            try await upstream.shutdown()
        }
    }
}

@Suite struct ChatAppTests {
    @Test func pagesCarryAStrictPolicyAndASession() async throws {
        try await withChatApp { client, _, _ in
            let response = try await client.execute(uri: "/", method: .get)
            #expect(response.status == .ok)
            let policy = try #require(response.headers[HeaderName("Content-Security-Policy")!])
            #expect(policy.contains("script-src 'self'"))
            #expect(!policy.contains("unsafe-inline"))
            let cookie = try #require(response.headers[.setCookie])
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Lax"))
            var browser = Browser()
            browser.read(response)
            #expect(browser.csrf?.count == 43)
            let script = try await client.execute(uri: "/static/chat.js", method: .get)
            #expect(script.status == .ok)
            #expect(String(buffer: script.body).contains("Markdown"))
        }
    }

    @Test func aMessageStreamsItsAnswerAndBothAreStored() async throws {
        try await withChatApp { client, state, standIn in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            let created = try await client.execute(uri: "/api/conversations", method: .post, headers: browser.headers, body: ByteBuffer(string: "{}"))
            #expect(created.status == .created)
            let id = try #require(try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any])["id"] as? String
            let id2 = try #require(id)
            let answer = try await client.execute(
                uri: "/api/conversations/\(id2)/messages", method: .post, headers: browser.headers,
                body: ByteBuffer(string: #"{"content":"Say hello\nplease"}"#))
            #expect(answer.status == .ok)
            let events = String(buffer: answer.body)
            #expect(events.contains(#""type":"start""#))
            #expect(events.contains(#""text":" world""#))
            #expect(events.contains(#""type":"done","state":"complete""#))
            #expect(events.contains(#""completionTokens":4"#))

            let user = try #require(try await state.store.user(named: SessionMiddleware.localUserName))
            let messages = try #require(try await state.store.messages(conversationID: id2, userID: user.id))
            #expect(messages.map(\.content) == ["Say hello\nplease", "Hello, world!"])
            #expect(messages[1].state == .complete)
            #expect(messages[1].stats.completionTokens == 4)
            #expect(try await state.store.conversation(id: id2, userID: user.id)?.title == "Say hello")

            let page = try await client.execute(uri: "/c/\(id2)", method: .get, headers: browser.headers)
            #expect(String(buffer: page.body).contains("Hello, world!"))
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(String(buffer: metrics.body).contains(#"skiff_chat_streams_total{outcome="complete"} 1"#))
            // The user set no sampling: the request names none, so the model service's defaults apply.
            let sent = try #require(await standIn.log.bodies.last)
            let fields = try #require(try JSONSerialization.jsonObject(with: Data(sent.utf8)) as? [String: Any])
            #expect(Set(fields.keys) == ["model", "messages", "stream", "stream_options"])
        }
    }

    @Test func modelOutputIsEscapedInPages() async throws {
        try await withChatApp { client, state, _ in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            let user = try #require(try await state.store.user(named: SessionMiddleware.localUserName))
            let conversation = try await state.store.createConversation(userID: user.id, title: "<b>x</b>")
            _ = try await state.store.appendMessages(
                [NewMessage(role: .assistant, content: "<script>alert(1)</script><img src=x onerror=alert(2)>")],
                conversationID: conversation.id, userID: user.id)
            let html = String(buffer: try await client.execute(uri: "/c/\(conversation.id)", method: .get, headers: browser.headers).body)
            #expect(!html.contains("<script>alert"))
            #expect(!html.contains("<img src=x"))
            #expect(html.contains("&lt;script&gt;"))
            #expect(!html.contains("<b>x</b>"))
        }
    }

    @Test func stateChangesNeedTheSessionsToken() async throws {
        try await withChatApp { client, _, _ in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            var withoutToken = browser
            withoutToken.csrf = nil
            let refused = try await client.execute(uri: "/api/conversations", method: .post, headers: withoutToken.headers, body: ByteBuffer(string: "{}"))
            #expect(refused.status == .forbidden)
            var wrongToken = browser
            // The real token with its first character changed (to one it is not: a token may start with "x").
            let token = browser.csrf ?? ""
            wrongToken.csrf = (token.first == "x" ? "y" : "x") + token.dropFirst()
            let wrong = try await client.execute(uri: "/api/conversations", method: .post, headers: wrongToken.headers, body: ByteBuffer(string: "{}"))
            #expect(wrong.status == .forbidden)
            var crossOrigin = browser.headers
            crossOrigin[.origin] = "https://evil.example"
            let cross = try await client.execute(uri: "/api/conversations", method: .post, headers: crossOrigin, body: ByteBuffer(string: "{}"))
            #expect(cross.status == .forbidden)
            let allowed = try await client.execute(uri: "/api/conversations", method: .post, headers: browser.headers, body: ByteBuffer(string: "{}"))
            #expect(allowed.status == .created)
        }
    }

    @Test func anotherUsersConversationIsNotFound() async throws {
        try await withChatApp { client, state, _ in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            let other = try await state.store.ensureUser(name: "someone-else")
            let theirs = try await state.store.createConversation(userID: other.id, title: "Theirs")
            for (uri, method) in [
                ("/c/\(theirs.id)", HTTPRequest.Method.get), ("/c/\(theirs.id)/export.md", .get),
                ("/c/\(theirs.id)/export.json", .get), ("/api/conversations/\(theirs.id)", .delete),
            ] {
                let response = try await client.execute(uri: uri, method: method, headers: browser.headers)
                #expect(response.status == .notFound, "\(method) \(uri)")
            }
            let send = try await client.execute(
                uri: "/api/conversations/\(theirs.id)/messages", method: .post, headers: browser.headers,
                body: ByteBuffer(string: #"{"content":"hi"}"#))
            #expect(send.status == .notFound)
            #expect(try await state.store.conversation(id: theirs.id, userID: other.id) != nil)
        }
    }

    @Test func headerModeIgnoresTheHeaderFromAnUntrustedAddress() async throws {
        try await withChatApp(configure: {
            $0.auth = .header
            $0.trustedProxies = [try! AddressRange(parsing: "10.0.0.0/8")]
        }) { client, state, _ in
            let response = try await client.execute(uri: "/", method: .get, headers: [HeaderName("X-Forwarded-User")!: "mallory"])
            #expect(response.status == .unauthorized)
            #expect(try await state.store.user(named: "mallory") == nil)
        }
        try await withChatApp(configure: { $0.auth = .header }) { client, state, _ in
            let response = try await client.execute(uri: "/", method: .get, headers: [HeaderName("X-Forwarded-User")!: "alice"])
            #expect(response.status == .ok)
            #expect(try await state.store.user(named: "alice") != nil)
        }
    }

    @Test func probesReportTheDatabaseAndTheModelService() async throws {
        try await withChatApp(configure: { $0.llmURL = "http://127.0.0.1:9/v1" }) { client, state, _ in
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            // The model service's state comes from a background check; before the first one ends it is unknown.
            let before = try await client.execute(uri: "/ready", method: .get)
            #expect(before.status == .ok)
            #expect(String(buffer: before.body).contains(#""model_service":"unknown""#))
            await state.checkModelService()
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .ok)
            #expect(String(buffer: ready.body).contains(#""model_service":"unreachable""#))
            state.startDraining()
            #expect(try await client.execute(uri: "/ready", method: .get).status == .serviceUnavailable)
        }
    }

    @Test func anUnreachableModelServiceFailsTheAnswerButKeepsTheQuestion() async throws {
        try await withChatApp(configure: { $0.llmURL = "http://127.0.0.1:9/v1" }) { client, state, _ in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            let created = try await client.execute(uri: "/api/conversations", method: .post, headers: browser.headers, body: ByteBuffer(string: "{}"))
            let id = try #require((try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any])?["id"] as? String)
            let answer = try await client.execute(
                uri: "/api/conversations/\(id)/messages", method: .post, headers: browser.headers, body: ByteBuffer(string: #"{"content":"hello?"}"#))
            #expect(String(buffer: answer.body).contains(#""type":"error","state":"failed","kind":"unreachable""#))
            let user = try #require(try await state.store.user(named: SessionMiddleware.localUserName))
            let messages = try #require(try await state.store.messages(conversationID: id, userID: user.id))
            #expect(messages.map(\.content) == ["hello?", ""])
            #expect(messages[1].state == .failed)
            #expect(messages[1].error?.contains("can't be reached") == true)
        }
    }
}

/// Flows that replace or stop answers.
@Suite struct AnswerFlowTests {
    /// A new conversation for the browser, with `settings` as its JSON body.
    static func newConversation(_ client: any TestClientProtocol, _ browser: Browser, settings: String = "{}") async throws -> String {
        let created = try await client.execute(uri: "/api/conversations", method: .post, headers: browser.headers, body: ByteBuffer(string: settings))
        let object = try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any]
        return try #require(object?["id"] as? String)
    }

    @Test func stoppingTheStreamStopsTheModelAndStoresThePartialAnswer() async throws {
        try await withChatApp { client, state, standIn in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            let id = try await Self.newConversation(client, browser, settings: #"{"model":"slow"}"#)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(try #require(client.port))/api/conversations/\(id)/messages")
            request.method = .POST
            for field in browser.headers { request.headers.add(name: field.name.rawName, value: field.value) }
            request.body = .bytes(ByteBuffer(string: #"{"content":"count forever"}"#))
            let reading = Task {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(300))
                var seen = ""
                for try await buffer in response.body {
                    seen += String(buffer: buffer)
                    if seen.contains(#""type":"delta""#) { return seen }  // the browser's Stop: drop the stream
                }
                return seen
            }
            _ = try await reading.value
            let user = try #require(try await state.store.user(named: SessionMiddleware.localUserName))
            var answer: Message?
            let deadline = ContinuousClock.now + .seconds(120)
            while true {
                answer = try await state.store.messages(conversationID: id, userID: user.id)?.last
                if answer?.state == .stopped, await standIn.log.cancelledStreams == 1 { break }
                guard ContinuousClock.now < deadline else { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(answer?.state == .stopped)
            #expect(answer?.content.hasPrefix(".") == true)
            #expect(await standIn.log.cancelledStreams == 1)
        }
    }

    @Test func regenerateReplacesTheAnswerAndEditReplacesTheQuestion() async throws {
        try await withChatApp { client, state, standIn in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            let id = try await Self.newConversation(client, browser)
            _ = try await client.execute(
                uri: "/api/conversations/\(id)/messages", method: .post, headers: browser.headers, body: ByteBuffer(string: #"{"content":"first"}"#))
            let regenerated = try await client.execute(
                uri: "/api/conversations/\(id)/regenerate", method: .post, headers: browser.headers, body: ByteBuffer(string: "{}"))
            #expect(String(buffer: regenerated.body).contains(#""answerSequence":2"#))
            let edited = try await client.execute(
                uri: "/api/conversations/\(id)/edit", method: .post, headers: browser.headers, body: ByteBuffer(string: #"{"content":"second"}"#))
            #expect(String(buffer: edited.body).contains(#""type":"done","state":"complete""#))
            let user = try #require(try await state.store.user(named: SessionMiddleware.localUserName))
            let messages = try #require(try await state.store.messages(conversationID: id, userID: user.id))
            #expect(messages.map(\.content) == ["second", "Hello, world!"])
            #expect(messages.map(\.sequence) == [1, 2])
            // The model saw the edited question only, and no earlier answer.
            let lastRequest = try #require(await standIn.log.bodies.last)
            #expect(lastRequest.contains(#""content":"second""#))
            #expect(!lastRequest.contains("first"))
            #expect(!lastRequest.contains("Hello"))
        }
    }

    @Test func aConversationLongerThanTheContextSendsTheNewestTurnsThatFitAndKeepsAll() async throws {
        try await withChatApp { client, state, standIn in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            // standin-b states a 400-token context; 100 tokens stay free for the answer.
            let id = try await Self.newConversation(
                client, browser, settings: #"{"model":"standin-b","systemPrompt":"Be brief.","maxTokens":100}"#)
            let question = (1...60).map { "word\($0)" }.joined(separator: " ")
            var lastEvents = ""
            for turn in 1...8 {
                let answer = try await client.execute(
                    uri: "/api/conversations/\(id)/messages", method: .post, headers: browser.headers,
                    body: ByteBuffer(string: #"{"content":"turn \#(turn) \#(question)"}"#))
                #expect(answer.status == .ok)
                lastEvents = String(buffer: answer.body)
                #expect(lastEvents.contains(#""type":"done","state":"complete""#), "\(lastEvents)")
            }
            // The last request: the system prompt, then the newest turns from a user turn on, within 300 tokens.
            let body = try #require(await standIn.log.bodies.last)
            let sent = try #require(
                (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["messages"] as? [[String: Any]])
            #expect(sent.first?["role"] as? String == "system")
            #expect(sent.dropFirst().first?["role"] as? String == "user")
            #expect(StandInUpstream.tokenCount(sent) <= 300)
            #expect((sent.last?["content"] as? String)?.hasPrefix("turn 8 ") == true)
            let omitted = 16 - 1 - (sent.count - 1)
            #expect(omitted >= 2)
            #expect(lastEvents.contains(#""type":"context","omittedMessages":\#(omitted)"#))
            #expect(lastEvents.contains(#""omittedMessages":\#(omitted)}"#))
            // One more user turn and its answer would not have fitted.
            #expect(StandInUpstream.tokenCount([sent[0]] + [["content": "turn 7 " + question], ["content": "Hello, world!"]] + sent.dropFirst())
                    > 300)
            // The conversation itself is whole, and the answer says what was left out.
            let user = try #require(try await state.store.user(named: SessionMiddleware.localUserName))
            let messages = try #require(try await state.store.messages(conversationID: id, userID: user.id))
            #expect(messages.count == 16)
            #expect(messages.last?.stats.omittedMessages == omitted)
            let page = String(buffer: try await client.execute(uri: "/c/\(id)", method: .get, headers: browser.headers).body)
            #expect(page.contains("\(omitted) earlier messages left out to fit the model&#39;s context")
                    || page.contains("\(omitted) earlier messages left out to fit the model's context"))
            #expect(await standIn.log.tokenizeCalls > 0)
        }
    }

    @Test func aSamplingSettingIsSentWhileSetAndNotOnceCleared() async throws {
        try await withChatApp { client, _, standIn in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            let id = try await Self.newConversation(client, browser, settings: #"{"temperature":0.3,"maxTokens":20}"#)
            func ask() async throws -> [String: Any] {
                _ = try await client.execute(
                    uri: "/api/conversations/\(id)/messages", method: .post, headers: browser.headers,
                    body: ByteBuffer(string: #"{"content":"hi"}"#))
                let sent = try #require(await standIn.log.bodies.last)
                return try #require(try JSONSerialization.jsonObject(with: Data(sent.utf8)) as? [String: Any])
            }
            let set = try await ask()
            #expect(set["temperature"] as? Double == 0.3)
            #expect(set["max_tokens"] as? Int == 20)
            // The page sends null for an emptied field.
            let cleared = try await client.execute(
                uri: "/api/conversations/\(id)", method: .patch, headers: browser.headers,
                body: ByteBuffer(string: #"{"temperature":null,"maxTokens":null}"#))
            #expect(cleared.status == .noContent)
            let unset = try await ask()
            #expect(unset["temperature"] == nil)
            #expect(unset["max_tokens"] == nil)
        }
    }

    @Test func messagesAreLimitedPerUserAndInSize() async throws {
        try await withChatApp(configure: {
            $0.messagesPerMinute = 2
            $0.maxMessageBytes = 1024
        }) { client, _, _ in
            var browser = Browser()
            browser.read(try await client.execute(uri: "/", method: .get))
            let id = try await Self.newConversation(client, browser)
            let tooLong = String(repeating: "a", count: 2000)
            let large = try await client.execute(
                uri: "/api/conversations/\(id)/messages", method: .post, headers: browser.headers,
                body: ByteBuffer(string: #"{"content":"\#(tooLong)"}"#))
            #expect(large.status == .contentTooLarge)
            for _ in 0..<2 {
                let sent = try await client.execute(
                    uri: "/api/conversations/\(id)/messages", method: .post, headers: browser.headers, body: ByteBuffer(string: #"{"content":"hi"}"#))
                #expect(sent.status == .ok)
            }
            let limited = try await client.execute(
                uri: "/api/conversations/\(id)/messages", method: .post, headers: browser.headers, body: ByteBuffer(string: #"{"content":"hi"}"#))
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] == "60")
        }
    }
}

@Suite struct PasswordModeTests {
    static func form(_ text: String, cookie: String? = nil) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie { fields[.cookie] = cookie }
        return fields
    }

    static func cookie(_ response: TestResponse) -> String? {
        response.headers[.setCookie]?.split(separator: ";").first.map(String.init)
    }

    @Test func theFirstAccountIsAdminAndAddsTheOthers() async throws {
        try await withChatApp(configure: { $0.auth = .password }) { client, state, _ in
            let home = try await client.execute(uri: "/", method: .get)
            #expect(home.status == .seeOther)
            #expect(home.headers[.location] == "/login")
            let login = try await client.execute(uri: "/login", method: .get)
            #expect(login.headers[.location] == "/signup")
            #expect(try await client.execute(uri: "/api/conversations", method: .get).status == .unauthorized)

            let signup = try await client.execute(
                uri: "/signup", method: .post, headers: Self.form(""), body: ByteBuffer(string: "name=ada&password=correct-horse"))
            #expect(signup.status == .seeOther)
            let adminCookie = try #require(Self.cookie(signup))
            #expect(try await state.store.user(named: "ada")?.isAdmin == true)
            #expect(try await state.store.user(named: "ada")?.passwordHash?.hasPrefix("$2") == true)

            var admin = Browser(cookie: adminCookie)
            admin.read(try await client.execute(uri: "/admin/users", method: .get, headers: admin.headers))
            let added = try await client.execute(
                uri: "/admin/users", method: .post, headers: Self.form("", cookie: adminCookie),
                body: ByteBuffer(string: "_csrf=\(try #require(admin.csrf))&name=bob&password=battery-staple"))
            #expect(added.status == .ok)
            #expect(String(buffer: added.body).contains("Added bob"))
            let withoutToken = try await client.execute(
                uri: "/admin/users", method: .post, headers: Self.form("", cookie: adminCookie),
                body: ByteBuffer(string: "name=eve&password=battery-staple"))
            #expect(withoutToken.status == .forbidden)

            // A second "first account" is refused.
            let again = try await client.execute(
                uri: "/signup", method: .post, headers: Self.form(""), body: ByteBuffer(string: "name=mallory&password=whatever123"))
            #expect(again.headers[.location] == "/login")
            #expect(try await state.store.user(named: "mallory") == nil)

            let wrong = try await client.execute(
                uri: "/login", method: .post, headers: Self.form(""), body: ByteBuffer(string: "name=bob&password=wrong-password"))
            #expect(wrong.status == .unauthorized)
            let right = try await client.execute(
                uri: "/login", method: .post, headers: Self.form(""), body: ByteBuffer(string: "name=bob&password=battery-staple"))
            #expect(right.status == .seeOther)
            let bobCookie = try #require(Self.cookie(right))
            let bob = Browser(cookie: bobCookie)
            #expect(try await client.execute(uri: "/", method: .get, headers: bob.headers).status == .ok)
            #expect(try await client.execute(uri: "/admin/users", method: .get, headers: bob.headers).status == .notFound)
        }
    }
}

/// Work the server schedules for itself.
@Suite struct BackgroundWorkTests {
    @Test func expiredSessionsArePurgedInTheBackground() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-chat-purge-\(UUID().uuidString)/chat.db").path
        var logger = Logger(label: "chat-purge-tests")
        logger.logLevel = .warning
        let quiet = logger
        try await ChatStore.withStore(.sqlite(path: path), logger: logger) { store in
            let user = try await store.ensureUser(name: "ada")
            _ = try await store.createSession(tokenHash: "old", userID: user.id, csrfToken: "a", expiresAt: Date() - 60)
            _ = try await store.createSession(tokenHash: "new", userID: user.id, csrfToken: "b", expiresAt: Date() + 3600)
            // Asked as of long ago, an expired session is still found while its row exists.
            let longAgo = Date(timeIntervalSince1970: 0)
            #expect(try await store.session(tokenHash: "old", now: longAgo) != nil)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await SessionPurge(store: store, interval: .seconds(3600), logger: quiet).run() }
                var purged = false
                let deadline = ContinuousClock.now + .seconds(300)
                while !purged, ContinuousClock.now < deadline {
                    purged = try await store.session(tokenHash: "old", now: longAgo) == nil
                    if !purged { try await Task.sleep(for: .milliseconds(20)) }
                }
                group.cancelAll()
                #expect(purged)
            }
            #expect(try await store.session(tokenHash: "new") != nil)
        }
    }
}

import Foundation
import Logging
import SkiffChatStore
import Testing

/// Faults with real processes: the model service or the chat replica dies mid-answer, or the model service
/// is down when the chat starts.
@Suite struct ChatFaultTests {
    /// Reads events until `count` deltas have arrived, then runs `action` once.
    final class AfterDeltas {
        let count: Int
        var seen = 0
        var action: (() async throws -> Void)?

        init(_ count: Int, _ action: @escaping () async throws -> Void) {
            self.count = count
            self.action = action
        }

        func callAsFunction(_ event: [String: Any]) async throws {
            guard event["type"] as? String == "delta" else { return }
            seen += 1
            if seen >= count, let action {
                self.action = nil
                try await action()
            }
        }
    }

    @Test func theModelServiceKilledMidAnswerLeavesThePartialAnswerMarkedInterrupted() async throws {
        let (standIn, port) = try await Programs.standIn()
        let (chat, url) = try await Programs.chat(llmURL: "http://127.0.0.1:\(port)/v1", database: try Programs.databasePath())
        let session = try await ChatSession.open(url)
        let id = try await session.newConversation(settings: #"{"model":"slow"}"#)
        let kill = AfterDeltas(5) { await standIn.stop(SIGKILL) }
        let events = try await session.send("Count slowly", to: id, onEvent: kill.callAsFunction)

        let last = try #require(events.last)
        #expect(last["type"] as? String == "error")
        #expect(last["state"] as? String == "interrupted")
        #expect(last["kind"] as? String == "cut_off")
        #expect((last["message"] as? String)?.isEmpty == false)
        let messages = try await session.export(id)
        #expect(messages.map { $0["state"] as? String } == ["complete", "interrupted"])
        let partial = try #require(messages.last?["content"] as? String)
        #expect(partial.count >= 5 && partial.allSatisfy { $0 == "." }, "\(partial)")
        // The page says what happened under the partial answer.
        let page = try await session.get("/c/\(id)")
        #expect(page.text.contains("state-interrupted"))
        #expect(page.text.contains(#"<p class="notice">"#))
        await chat.stop()
    }

    @Test func theTierStartsWithTheModelServiceDownAndSaysSo() async throws {
        let port = try Programs.closedPort()
        let (chat, url) = try await Programs.chat(llmURL: "http://127.0.0.1:\(port)/v1", database: try Programs.databasePath())
        let session = try await ChatSession.open(url)
        let ready = try await session.readyWhenModelService(isNot: "unknown")
        #expect(ready.status == 200)
        #expect(ready.text.contains(#""model_service":"unreachable""#), "\(ready.text)")

        // Asking fails with what to do; the question is kept.
        let id = try await session.newConversation()
        let events = try await session.send("Anyone there?", to: id)
        #expect(events.last?["state"] as? String == "failed")
        #expect(events.last?["kind"] as? String == "unreachable")
        let messages = try await session.export(id)
        #expect(messages.first?["content"] as? String == "Anyone there?")

        // Once the model service is up, the same replica answers.
        let (standIn, _) = try await Programs.standIn(port: port)
        // The next background check (every 5 s) sees it.
        #expect(try await session.readyWhenModelService(isNot: "unreachable").text.contains(#""model_service":"ok""#))
        let answered = try await session.send("And now?", to: id)
        #expect(answered.last?["type"] as? String == "done")
        await chat.stop()
        await standIn.stop()
    }

    @Test func aChatReplicaKilledMidAnswerLeavesTheQuestionAndTheAnswerSoFarInTheDatabase() async throws {
        let (standIn, port) = try await Programs.standIn()
        let database = try Programs.databasePath()
        let (chat, url) = try await Programs.chat(llmURL: "http://127.0.0.1:\(port)/v1", database: database)
        let session = try await ChatSession.open(url)
        let id = try await session.newConversation(settings: #"{"model":"slow"}"#)
        // The stand-in sends a "." every 20 ms and the chat saves the text so far every 0.5 s: once the saved
        // answer has text (the export reads the database), the replica is killed.
        var savedBeforeKill = ""
        let kill = AfterDeltas(1) {
            while savedBeforeKill.isEmpty {
                let messages = try await session.export(id)
                savedBeforeKill = messages.count == 2 ? messages[1]["content"] as? String ?? "" : ""
                if savedBeforeKill.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            await chat.stop(SIGKILL)
        }
        let events = try await session.send("Tell me everything", to: id, onEvent: kill.callAsFunction)
        #expect(!events.contains { $0["type"] as? String == "done" || $0["type"] as? String == "error" })
        await standIn.stop()

        var logger = Logger(label: "chat-fault-tests")
        logger.logLevel = .warning
        let seenBeforeKill = savedBeforeKill
        try await ChatStore.withStore(.sqlite(path: database), logger: logger) { store in
            let user = try #require(try await store.user(named: "local"))
            let messages = try #require(try await store.messages(conversationID: id, userID: user.id))
            #expect(messages.count == 2)
            #expect(messages.first?.content == "Tell me everything")
            #expect(messages.last?.role == .assistant)
            #expect(messages.last?.state == .streaming)
            let saved = messages.last?.content ?? ""
            #expect(!seenBeforeKill.isEmpty && saved.count >= seenBeforeKill.count && saved.allSatisfy { $0 == "." },
                    "saved \(saved), seen before the kill \(seenBeforeKill)")
        }
    }

    @Test func aDrainPastItsGracePeriodStoresTheAnswerAsInterrupted() async throws {
        let (standIn, port) = try await Programs.standIn()
        let database = try Programs.databasePath()
        let (chat, url) = try await Programs.chat(
            llmURL: "http://127.0.0.1:\(port)/v1", database: database, extra: ["--grace-period", "20"])
        let session = try await ChatSession.open(url)
        let id = try await session.newConversation(settings: #"{"model":"slow"}"#)
        var readyWhileDraining: (status: Int, text: String)?
        // The "slow" answer never ends, so the grace period always runs out; it is long only so that the
        // readiness probe, asked once the chat logs that it drains, lands inside it on a busy machine.
        let terminate = AfterDeltas(3) {
            kill(chat.pid, SIGTERM)
            _ = try await chat.waitFor(#"answers_in_flight=\d+.*\] draining"#)
            readyWhileDraining = try await session.get("/ready")
        }
        let events = try await session.send("Keep going", to: id, onEvent: terminate.callAsFunction)
        #expect(!events.contains { $0["type"] as? String == "done" })
        #expect(readyWhileDraining?.status == 503)
        #expect(readyWhileDraining?.text.contains(#""draining":true"#) == true)
        #expect(await chat.waitForExit(timeout: .seconds(120)) == 0)
        await standIn.stop()

        var logger = Logger(label: "chat-fault-tests")
        logger.logLevel = .warning
        try await ChatStore.withStore(.sqlite(path: database), logger: logger) { store in
            let user = try #require(try await store.user(named: "local"))
            let answer = try #require(try await store.messages(conversationID: id, userID: user.id)?.last)
            #expect(answer.state == .interrupted)
            #expect(answer.error?.contains("partial") == true)
            #expect(answer.content.count >= 3 && answer.content.allSatisfy { $0 == "." }, "\(answer.content)")
        }
    }
}

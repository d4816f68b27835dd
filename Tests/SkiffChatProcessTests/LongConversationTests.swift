import Foundation
import Testing

/// A conversation longer than the model's context, with real programs: `skiff serve` (the default model,
/// its context cut to 256 tokens) and `skiff-chat` in front of it.
@Suite struct LongConversationTests {
    @Test func everyAnswerOfAConversationLongerThanTheContextCompletesAndSaysWhatWasLeftOut() async throws {
        let (serve, llmURL) = try await Programs.serve(extra: ["--ctx", "256"])
        let (chat, url) = try await Programs.chat(llmURL: llmURL, database: try Programs.databasePath())
        let session = try await ChatSession.open(url)
        let id = try await session.newConversation(settings: #"{"systemPrompt":"You are brief.","maxTokens":12}"#)
        let filler = Array(repeating: "The lighthouse keeper counted the waves again.", count: 6).joined(separator: " ")
        var omitted: [Int] = []
        for turn in 1...6 {
            let events = try await session.send("Question \(turn): \(filler) What did he count?", to: id)
            let done = try #require(events.last, "no events for turn \(turn)")
            #expect(done["type"] as? String == "done", "turn \(turn): \(done)")
            #expect(done["state"] as? String == "complete", "turn \(turn): \(done)")
            omitted.append((done["stats"] as? [String: Any])?["omittedMessages"] as? Int ?? 0)
        }
        // Each question is about 60 tokens: the first ones fit whole, the later ones leave the oldest out.
        #expect(omitted.first == 0)
        #expect((omitted.last ?? 0) > 0, "\(omitted)")
        #expect(omitted == omitted.sorted(), "\(omitted)")
        let messages = try await session.export(id)
        #expect(messages.count == 12)
        #expect((messages.first?["content"] as? String)?.hasPrefix("Question 1:") == true)
        await chat.stop()
        await serve.stop()
    }
}

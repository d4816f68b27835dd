import Foundation
import Testing

/// Chat and text completions over real HTTP with the real model: bodies, streams, usage, stops.
@Suite struct OpenAIEndpointTests {
    let hello: [String: Any] = ["role": "user", "content": "Say hello."]

    @Test func chatCompletionUsageMatchesTokenizer() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let reply = try await server.post("/v1/chat/completions", [
                "model": TestServer.servedName, "messages": [hello], "max_tokens": 8, "temperature": 0,
            ])
            #expect(reply.status == 200)
            let body = reply.json
            #expect(body["object"] as? String == "chat.completion")
            #expect((body["id"] as? String)?.hasPrefix("chatcmpl-") == true)
            let message = body.choice?["message"] as? [String: Any]
            #expect(message?["role"] as? String == "assistant")
            #expect(message?["content"] is String)
            #expect(["stop", "length"].contains(body.choice?["finish_reason"] as? String ?? ""))
            let tokenized = try await server.post("/tokenize", ["messages": [hello]]).json
            let usage = try #require(body.usage)
            #expect(usage["prompt_tokens"] as? Int == tokenized["count"] as? Int)
            let completion = try #require(usage["completion_tokens"] as? Int)
            #expect(completion >= 1 && completion <= 8)
            #expect(usage["total_tokens"] as? Int == completion + (usage["prompt_tokens"] as? Int ?? 0))
        }
    }

    @Test func textCompletionRunsToMaxTokens() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let prompt = "The capital of France is"
            let reply = try await server.post("/v1/completions", ["prompt": prompt, "max_tokens": 5, "temperature": 0, "seed": 7])
            #expect(reply.status == 200)
            let body = reply.json
            #expect(body["object"] as? String == "text_completion")
            #expect(body.choice?["text"] is String)
            let tokenized = try await server.post("/tokenize", ["prompt": prompt]).json
            #expect(body.usage?["prompt_tokens"] as? Int == tokenized["count"] as? Int)
            if body.choice?["finish_reason"] as? String == "length" {
                #expect(body.usage?["completion_tokens"] as? Int == 5)
            }
        }
    }

    @Test func tokenIdPromptIsAccepted() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let tokens = try #require(try await server.post("/tokenize", ["prompt": "Once upon a time"]).json["tokens"] as? [Int])
            let reply = try await server.post("/v1/completions", ["prompt": tokens, "max_tokens": 2])
            #expect(reply.status == 200)
            #expect(reply.json.usage?["prompt_tokens"] as? Int == tokens.count)
        }
    }

    @Test func chatStreamIsFramedAndEndsWithUsageAndDone() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let reply = try await server.post("/v1/chat/completions", [
                "messages": [hello], "max_tokens": 6, "stream": true, "stream_options": ["include_usage": true],
            ])
            #expect(reply.status == 200)
            #expect(reply.header("content-type")?.hasPrefix("text/event-stream") == true)
            let events = EventStream(reply.body)
            #expect(events.wellFramed)
            #expect(events.payloads.last == "[DONE]")
            let chunks = events.chunks
            #expect(chunks.count == events.payloads.count - 1)
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            let firstDelta = chunks.first?.choice?["delta"] as? [String: Any]
            #expect(firstDelta?["role"] as? String == "assistant")
            let finishChunk = try #require(chunks.dropLast().last)
            #expect(["stop", "length"].contains(finishChunk.choice?["finish_reason"] as? String ?? ""))
            let usageChunk = try #require(chunks.last)
            #expect((usageChunk["choices"] as? [Any])?.isEmpty == true)
            let usage = try #require(usageChunk.usage)
            let tokenized = try await server.post("/tokenize", ["messages": [hello]]).json
            #expect(usage["prompt_tokens"] as? Int == tokenized["count"] as? Int)
            #expect((usage["completion_tokens"] as? Int ?? 0) <= 6)
        }
    }

    @Test func textStreamWithoutUsage() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let reply = try await server.post("/v1/completions", ["prompt": "1, 2, 3,", "max_tokens": 4, "stream": true])
            let events = EventStream(reply.body)
            #expect(reply.status == 200)
            #expect(events.wellFramed)
            #expect(events.payloads.last == "[DONE]")
            #expect(events.chunks.allSatisfy { $0["object"] as? String == "text_completion" && $0["usage"] == nil })
            #expect(events.chunks.last?.choice?["finish_reason"] as? String != nil)
        }
    }

    @Test func stopStringEndsGenerationWithoutTheStop() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let request: [String: Any] = ["prompt": "Count: 1, 2, 3, 4, 5,", "max_tokens": 16, "temperature": 0]
            let free = try #require(try await server.post("/v1/completions", request).json.choice?["text"] as? String)
            // Stop at a piece of the greedy text past its first characters.
            let start = free.index(free.startIndex, offsetBy: min(3, free.count))
            let stop = String(free[start...].prefix(2))
            try #require(stop.count == 2, "the greedy continuation is too short: \(free.debugDescription)")
            var stopped = request
            stopped["stop"] = [stop, "never-appears"]
            let body = try await server.post("/v1/completions", stopped).json
            let text = try #require(body.choice?["text"] as? String)
            #expect(body.choice?["finish_reason"] as? String == "stop")
            #expect(!text.contains(stop))
            #expect(free.hasPrefix(text))
        }
    }

    @Test func modelsVersionTokenizeDetokenize() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let models = try await server.get("/v1/models").json
            let data = try #require(models["data"] as? [[String: Any]])
            #expect(data.first?["id"] as? String == TestServer.servedName)
            #expect(data.first?["max_model_len"] as? Int == TestModel.contextLength)
            #expect(try await server.get("/version").json["version"] as? String == "test")
            let tokenized = try await server.post("/tokenize", ["prompt": "Hello world", "add_special": false]).json
            let tokens = try #require(tokenized["tokens"] as? [Int])
            #expect(tokenized["count"] as? Int == tokens.count)
            let text = try await server.post("/detokenize", ["tokens": tokens]).json["prompt"] as? String
            #expect(text == "Hello world")
        }
    }

    @Test func sixteenConcurrentStreamsAllComplete() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let finished = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0 ..< 16 {
                    group.addTask {
                        let reply = try await server.post("/v1/chat/completions", [
                            "messages": [["role": "user", "content": "Tell me about the number \(i)."]],
                            "max_tokens": 12, "stream": true,
                        ])
                        let events = EventStream(reply.body)
                        return reply.status == 200 && events.wellFramed && events.payloads.last == "[DONE]"
                            && events.chunks.last?.choice?["finish_reason"] as? String != nil
                    }
                }
                var all: [Bool] = []
                for try await ok in group { all.append(ok) }
                return all
            }
            #expect(finished.count == 16)
            #expect(finished.allSatisfy { $0 })
        }
    }
}

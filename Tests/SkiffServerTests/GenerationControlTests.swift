import Foundation
import Testing

/// Output-length controls and log-probabilities over real HTTP with the real model.
@Suite struct GenerationControlTests {
    let hello: [String: Any] = ["role": "user", "content": "Say hello."]

    @Test func ignoreEOSAndMinTokensOutlastTheNaturalEnd() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let request: [String: Any] = ["messages": [hello], "max_tokens": 60, "temperature": 0]
            let free = try await server.post("/v1/chat/completions", request).json
            try #require(free.choice?["finish_reason"] as? String == "stop", "the greedy answer must end by itself")
            let natural = try #require(free.usage?["completion_tokens"] as? Int)
            try #require(natural < 40)

            var ignoring = request
            ignoring["ignore_eos"] = true
            let forced = try await server.post("/v1/chat/completions", ignoring).json
            #expect(forced.choice?["finish_reason"] as? String == "length")
            #expect(forced.usage?["completion_tokens"] as? Int == 60)

            var atLeast = request
            atLeast["min_tokens"] = natural + 5
            let longer = try await server.post("/v1/chat/completions", atLeast).json
            #expect((longer.usage?["completion_tokens"] as? Int ?? 0) >= natural + 5)
        }
    }

    @Test func chatLogprobsDescribeEveryToken() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let body = try await server.post("/v1/chat/completions", [
                "messages": [hello], "max_tokens": 12, "temperature": 0, "logprobs": true, "top_logprobs": 3,
            ]).json
            let content = try #require((body.choice?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            #expect(content.count == body.usage?["completion_tokens"] as? Int)
            let message = try #require((body.choice?["message"] as? [String: Any])?["content"] as? String)
            #expect(content.compactMap { $0["token"] as? String }.joined() == message)
            for entry in content {
                let logprob = try #require(entry["logprob"] as? Double)
                #expect(logprob <= 0)
                let bytes = try #require(entry["bytes"] as? [Int])
                #expect(String(decoding: bytes.map(UInt8.init), as: UTF8.self) == entry["token"] as? String)
                let top = try #require(entry["top_logprobs"] as? [[String: Any]])
                #expect(top.count == 3)
                // Greedy: the chosen token is the likeliest one.
                #expect(top.first?["token"] as? String == entry["token"] as? String)
                #expect(abs((top.first?["logprob"] as? Double ?? 1) - logprob) < 1e-6)
                let values = top.compactMap { $0["logprob"] as? Double }
                #expect(values == values.sorted(by: >))
            }
            let plain = try await server.post("/v1/chat/completions", ["messages": [hello], "max_tokens": 2]).json
            #expect(plain.choice?["logprobs"] is NSNull)
        }
    }

    @Test func streamedTextLogprobsCoverEveryToken() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let reply = try await server.post("/v1/completions", [
                "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0, "logprobs": 2,
                "stream": true, "stream_options": ["include_usage": true],
            ])
            let events = EventStream(reply.body)
            #expect(events.wellFramed)
            var tokens: [String] = [], offsets: [Int] = [], text = ""
            for chunk in events.chunks {
                guard let choice = chunk.choice else { continue }
                text += choice["text"] as? String ?? ""
                guard let lists = choice["logprobs"] as? [String: Any], !(choice["logprobs"] is NSNull) else { continue }
                let chunkTokens = try #require(lists["tokens"] as? [String])
                #expect((lists["token_logprobs"] as? [Double])?.count == chunkTokens.count)
                let top = try #require(lists["top_logprobs"] as? [[String: Double]])
                #expect(top.allSatisfy { $0.count == 2 })
                tokens += chunkTokens
                offsets += lists["text_offset"] as? [Int] ?? []
            }
            let usage = try #require(events.chunks.last?.usage)
            #expect(tokens.count == usage["completion_tokens"] as? Int)
            #expect(tokens.joined() == text)
            #expect(offsets.first == 0)
            #expect(offsets == offsets.sorted())
        }
    }
}

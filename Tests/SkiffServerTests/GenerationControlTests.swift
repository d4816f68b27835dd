import Foundation
import SkiffEngine
import SkiffModelFile
import Testing
@testable import SkiffServer

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

    @Test func samplingSettingsARequestLeavesOutAreTheServersDefaults() async throws {
        let question: [String: Any] = ["role": "user", "content": "What is 17 multiplied by 3?"]
        func answer(_ server: TestServer, _ settings: [String: Any]) async throws -> String {
            var request: [String: Any] = ["messages": [question], "max_tokens": 24, "seed": 11]
            request.merge(settings) { $1 }
            let reply = try await server.post("/v1/chat/completions", request)
            try #require(reply.status == 200, "\(reply.body)")
            return try #require((reply.json.choice?["message"] as? [String: Any])?["content"] as? String)
        }
        func defaults(_ server: TestServer) async throws -> [String: Double] {
            let model = try #require((try await server.get("/v1/models").json["data"] as? [[String: Any]])?.first)
            return try #require(model["sampling_defaults"] as? [String: Any]).compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
        // The test model's file recommends nothing: llama.cpp's defaults are in force, and /v1/models says so.
        try await TestServer.with { (server: TestServer) async throws in
            let inForce = try await defaults(server)
            #expect(abs((inForce["temperature"] ?? 0) - 0.8) < 1e-6)
            #expect(inForce["top_k"] == 40)
            #expect(abs((inForce["top_p"] ?? 0) - 0.95) < 1e-6)
            #expect(abs((inForce["min_p"] ?? 0) - 0.05) < 1e-6)
            #expect(inForce["presence_penalty"] == 0 && inForce["frequency_penalty"] == 0)
            // With one seed, naming nothing samples as naming llama.cpp's settings does, and not as OpenAI's.
            let implicit = try await answer(server, [:])
            #expect(implicit == (try await answer(server, ["temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05])))
            #expect(implicit != (try await answer(server, ["temperature": 1, "top_k": -1, "top_p": 1, "min_p": 0])))
        }
        // The server's own settings come before them: temperature 0 makes a request that names none greedy.
        try await TestServer.with(configure: { $0.sampling = SamplingOverrides(temperature: 0, topK: 5) }) { (server: TestServer) async throws in
            let inForce = try await defaults(server)
            #expect(inForce["temperature"] == 0)
            #expect(inForce["top_k"] == 5)
            #expect(abs((inForce["min_p"] ?? 0) - 0.05) < 1e-6)
            let greedy = try await answer(server, ["temperature": 0])
            #expect(try await answer(server, [:]) == greedy)
            #expect(try await answer(server, ["seed": 12]) == greedy)
            #expect(greedy.contains("51"), "\(greedy)")
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

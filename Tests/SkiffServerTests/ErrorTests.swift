import Foundation
import Testing

/// Every refusal in OpenAI's error shape with the right status.
@Suite struct ErrorTests {
    let hello: [String: Any] = ["role": "user", "content": "Hi"]

    /// Checks status and shape, and returns the `error` object.
    @discardableResult
    func expectError(_ reply: TestServer.Reply, _ status: Int, code: String? = nil, param: String? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any] {
        #expect(reply.status == status, "body: \(reply.body)", sourceLocation: sourceLocation)
        if let param, reply.error?["param"] as? String != param { Issue.record("body: \(reply.body)", sourceLocation: sourceLocation) }
        let error = reply.error ?? [:]
        #expect(error["message"] is String, sourceLocation: sourceLocation)
        #expect(error["type"] is String, sourceLocation: sourceLocation)
        #expect(error.keys.contains("param") && error.keys.contains("code"), sourceLocation: sourceLocation)
        if let code { #expect(error["code"] as? String == code, sourceLocation: sourceLocation) }
        if let param { #expect(error["param"] as? String == param, sourceLocation: sourceLocation) }
        return error
    }

    @Test func malformedAndMistypedRequests() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            expectError(try await server.post("/v1/chat/completions", raw: "{\"messages\": ["), 400)
            expectError(try await server.post("/v1/chat/completions", raw: "[1, 2]"), 400)
            expectError(try await server.post("/v1/chat/completions", ["messages": "hi"]), 400, param: "messages")
            expectError(try await server.post("/v1/chat/completions", ["messages": [hello], "temperature": "hot"]), 400, param: "temperature")
            expectError(try await server.post("/v1/chat/completions", ["messages": [hello], "max_tokens": 1.5]), 400, param: "max_tokens")
            expectError(try await server.post("/v1/chat/completions", ["messages": [["content": "no role"]]]), 400, param: "messages[0].role")
            expectError(try await server.post("/v1/chat/completions", [:]), 400, param: "messages")
            expectError(try await server.post("/v1/completions", ["prompt": ["a": 1]]), 400, param: "prompt")
            expectError(try await server.post("/v1/completions", ["prompt": "x", "stop": 3]), 400, param: "stop")
            expectError(try await server.post("/v1/completions", ["prompt": "x", "max_tokens": 0]), 400, param: "max_tokens")
            expectError(try await server.post("/v1/completions", ["prompt": "x", "top_p": 0]), 400, param: "top_p")
            expectError(try await server.post("/v1/completions", ["prompt": [1, 99_999_999]]), 400, param: "prompt")
            expectError(try await server.post("/detokenize", ["tokens": [-1]]), 400, param: "tokens")
        }
    }

    @Test func unsupportedFeaturesSayWhy() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let n = expectError(try await server.post("/v1/chat/completions", ["messages": [hello], "n": 2]), 400, param: "n")
            #expect((n["message"] as? String)?.contains("n=2") == true)
            expectError(try await server.post("/v1/chat/completions", ["messages": [hello], "logprobs": true, "top_logprobs": 21]),
                        400, param: "top_logprobs")
            expectError(try await server.post("/v1/chat/completions", ["messages": [hello], "top_logprobs": 2]), 400, param: "top_logprobs")
            expectError(try await server.post("/v1/completions", ["prompt": "x", "logprobs": "yes"]), 400, param: "logprobs")
            expectError(try await server.post("/v1/completions", ["prompt": "x", "min_tokens": -1]), 400, param: "min_tokens")
            expectError(try await server.post("/v1/completions", ["prompt": "x", "ignore_eos": "no"]), 400, param: "ignore_eos")
            expectError(try await server.post("/v1/completions", ["prompt": ["a", "b"]]), 400, param: "prompt")
            expectError(try await server.post("/v1/chat/completions", [
                "messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "x"]]]]],
            ]), 400, param: "messages")
            // Text parts are fine.
            let parts = try await server.post("/v1/chat/completions", [
                "messages": [["role": "user", "content": [["type": "text", "text": "Hi"]]]], "max_tokens": 1,
            ])
            #expect(parts.status == 200)
        }
    }

    @Test func unknownModelAndRoute() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            expectError(try await server.post("/v1/chat/completions", ["model": "gpt-9", "messages": [hello]]), 404, code: "model_not_found", param: "model")
            expectError(try await server.post("/v1/completions", ["model": "gpt-9", "prompt": "x"]), 404, code: "model_not_found")
            expectError(try await server.get("/v1/nothing-here"), 404)
        }
    }

    @Test func promptLongerThanContext() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let tokens = Array(repeating: 42, count: TestModel.contextLength + 10)
            expectError(try await server.post("/v1/completions", ["prompt": tokens, "max_tokens": 1]), 400, code: "context_length_exceeded")
            let long = String(repeating: "word ", count: 2 * TestModel.contextLength)
            expectError(try await server.post("/v1/chat/completions", ["messages": [["role": "user", "content": long]]]), 400,
                        code: "context_length_exceeded")
        }
    }

    @Test func promptOverTheServersLimit() async throws {
        try await TestServer.with(configure: { $0.maxPromptTokens = 20 }) { (server: TestServer) async throws in
            let refused = try await server.post("/v1/completions", ["prompt": Array(repeating: 42, count: 21), "max_tokens": 1])
            expectError(refused, 400, code: "context_length_exceeded")
            #expect(refused.error?["message"] as? String == "This server accepts prompts of at most 20 tokens; the prompt has 21 tokens.")
            #expect(try await server.post("/v1/completions", ["prompt": Array(repeating: 42, count: 20), "max_tokens": 1]).status == 200)
        }
    }

    @Test func bodyOverTheLimit() async throws {
        try await TestServer.with(configure: { $0.maxBodyBytes = 2048 }) { (server: TestServer) async throws in
            let big = String(repeating: "a", count: 4096)
            expectError(try await server.post("/v1/completions", ["prompt": big]), 413)
            expectError(try await server.post("/tokenize", ["prompt": big]), 413)
        }
    }

    @Test func apiKeys() async throws {
        try await TestServer.with(configure: { $0.apiKeys = ["key-one", "key-two"] }) { (server: TestServer) async throws in
            expectError(try await server.get("/v1/models"), 401, code: "invalid_api_key")
            expectError(try await server.get("/v1/models", headers: [("Authorization", "Bearer key-on")]), 401)
            expectError(try await server.get("/v1/models", headers: [("Authorization", "Bearer key-one-more")]), 401)
            expectError(try await server.post("/tokenize", ["prompt": "x"]), 401)
            #expect(try await server.get("/v1/models", headers: [("Authorization", "Bearer key-two")]).status == 200)
            #expect(try await server.get("/health").status == 200)
            #expect(try await server.get("/metrics").status == 200)
        }
    }

    @Test func requestsPastTheTimeoutEndWith408() async throws {
        // 900 tokens take seconds on any machine; the limit is 1.5 s.
        try await TestServer.with(configure: { $0.requestTimeout = .milliseconds(1500) }) { (server: TestServer) async throws in
            let long: [String: Any] = ["prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": true]
            expectError(try await server.post("/v1/completions", long), 408, code: "request_timeout")
            var streamed = long
            streamed["stream"] = true
            let reply = try await server.post("/v1/completions", streamed)
            if reply.status == 200 {
                // The usual case: tokens flowed, then the error event ends the stream.
                let events = EventStream(reply.body)
                #expect(events.payloads.last == "[DONE]")
                let error = events.chunks.last?["error"] as? [String: Any]
                #expect(error?["code"] as? String == "request_timeout")
            } else {
                // On a machine too loaded to produce a first token in time, the answer is a plain 408.
                expectError(reply, 408, code: "request_timeout")
            }
        }
    }

    @Test func queueFullIsTooManyRequests() async throws {
        let model = try TestModel.require()
        let engine = try TestModel.makeEngine(model, maxRunning: 1, maxWaiting: 1)
        defer { engine.shutdown() }
        try await TestServer.with(engine: engine) { (server: TestServer) async throws in
            // One running (stays until cancelled), one waiting behind it, then the queue is full.
            let running = try await server.openStream("/v1/completions", ["prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": true, "stream": true])
            var chunks = running.body.makeAsyncIterator()
            _ = try await chunks.next()
            let waiting = Task { try await server.post("/v1/completions", ["prompt": "Hello", "max_tokens": 1]) }
            try await Task.sleep(for: .milliseconds(300))
            let refused = try await server.post("/v1/completions", ["prompt": "Hi", "max_tokens": 1])
            expectError(refused, 429, code: "queue_full")
            #expect(refused.header("retry-after") == "1")
            waiting.cancel()
            _ = try? await waiting.value
        }
    }
}

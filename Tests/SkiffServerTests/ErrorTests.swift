import Foundation
import PythonTestSupport
import SkiffJSON
import Testing
@testable import SkiffServer

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

    @Test(.httpLayer) func malformedAndMistypedRequests() async throws {
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
            // Just past a bound, though the nearest float is on it (what schemathesis sent).
            expectError(try await server.post("/v1/completions", ["prompt": "x", "frequency_penalty": 2.0000000000000004]), 400,
                        param: "frequency_penalty")
            expectError(try await server.post("/v1/completions", ["prompt": "x", "presence_penalty": -2.0000000000000004]), 400,
                        param: "presence_penalty")
            expectError(try await server.post("/v1/completions", ["prompt": [1, 99_999_999]]), 400, param: "prompt")
            expectError(try await server.post("/detokenize", ["tokens": [-1]]), 400, param: "tokens")
        }
    }

    @Test(.httpLayer) func unsupportedFeaturesSayWhy() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let n = expectError(try await server.post("/v1/chat/completions", ["messages": [hello], "n": 2]), 400, param: "n")
            #expect((n["message"] as? String)?.contains("'n' does not support 2") == true)
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

    /// Requests that ask for what Skiff does not implement, as clients send them (the value as JSON text):
    /// each is refused, naming the field.
    static let unimplementedRequests: [(path: String, field: String, value: String)] = [
        ("/v1/completions", "tools", #"[{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]"#),
        ("/v1/completions", "tool_choice", #""required""#),
        ("/v1/chat/completions", "functions", #"[{"name": "weather", "parameters": {"type": "object"}}]"#),
        ("/v1/chat/completions", "function_call", #"{"name": "weather"}"#),
        ("/v1/chat/completions", "logit_bias", #"{"42": 100}"#),
        ("/v1/chat/completions", "n", "3"),
        ("/v1/chat/completions", "modalities", #"["text", "audio"]"#),
        ("/v1/chat/completions", "reasoning_effort", #""high""#),
        ("/v1/chat/completions", "repetition_penalty", "1.3"),
        ("/v1/chat/completions", "frobnicate", "true"),
        ("/v1/completions", "logit_bias", #"{"42": -100}"#),
        ("/v1/completions", "n", "2"),
        ("/v1/completions", "best_of", "2"),
        ("/v1/completions", "echo", "true"),
        ("/v1/completions", "suffix", #""return x""#),
        ("/v1/completions", "frobnicate", "1"),
    ]

    @Test(.httpLayer, .serialized, arguments: unimplementedRequests.indices)
    func unimplementedFieldsAreRefused(_ index: Int) async throws {
        let (path, field, value) = Self.unimplementedRequests[index]
        let request = path == "/v1/completions" ? #""prompt": "Hi""# : #""messages": [{"role": "user", "content": "Hi"}]"#
        try await TestServer.with { (server: TestServer) async throws in
            let reply = try await server.post(path, raw: #"{\#(request), "max_tokens": 1, "\#(field)": \#(value)}"#)
            let error = expectError(reply, 400, param: field)
            #expect((error["message"] as? String)?.contains("'\(field)'") == true)
        }
    }

    /// Every field Skiff does not implement: with `null` or a value that asks for what Skiff does anyway it
    /// is accepted (200); an ignored field is accepted whatever its value; with any other value a refused
    /// field gets 400 naming it.
    @Test(.httpLayer, .serialized, arguments: UnimplementedField.requestFields.map(\.name))
    func unimplementedFieldsAskingForNothingAreAccepted(_ name: String) async throws {
        let field = try #require(UnimplementedField.requestFields.first { $0.name == name })
        try await TestServer.with { (server: TestServer) async throws in
            var accepted: [Any] = [NSNull()]
            switch field.handling {
            case .ignored:
                accepted += ["x", 7, ["key": "value"], [1, 2]]
            case .refused(let noOps):
                accepted += noOps.map(\.foundationObject)
                for path in ["/v1/chat/completions", "/v1/completions"] where !RequestFieldPolicy.chatCompletion.implemented.contains(name) || path == "/v1/completions" {
                    var body: [String: Any] = path == "/v1/completions" ? ["prompt": "Hi"] : ["messages": [hello]]
                    body[name] = "something Skiff does not do"
                    expectError(try await server.post(path, body), 400, param: name)
                }
            }
            // A field chat completions implement (the tool fields) is unimplemented on text completions only.
            let onText = RequestFieldPolicy.chatCompletion.implemented.contains(name)
            for value in accepted {
                let reply = try await server.post(onText ? "/v1/completions" : "/v1/chat/completions",
                                                  [onText ? "prompt" : "messages": onText ? "Hi" as Any : [hello], "max_tokens": 1, name: value])
                #expect(reply.status == 200, "\(name): \(value) → \(reply.body)")
            }
        }
    }

    @Test(.httpLayer) func messageAndStreamOptionFields() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let chat = "/v1/chat/completions"
            // What the OpenAI Python client's model_dump() of an earlier answer carries is accepted.
            let echoed: [String: Any] = ["role": "assistant", "content": "Hello!", "refusal": NSNull(), "tool_calls": NSNull(),
                                         "function_call": NSNull(), "audio": NSNull(), "annotations": []]
            #expect(try await server.post(chat, ["messages": [hello, echoed, hello], "max_tokens": 1]).status == 200)
            expectError(try await server.post(chat, ["messages": [["role": "user", "content": "Hi", "name": "ann"]]]),
                        400, param: "messages[0].name")
            // Calls made earlier and tools' results are part of a conversation; a call of another type is not.
            let call: [String: Any] = ["id": "c1", "type": "function", "function": ["name": "weather", "arguments": "{}"]]
            let history: [[String: Any]] = [hello, ["role": "assistant", "content": NSNull(), "tool_calls": [call]],
                                             ["role": "tool", "content": "sunny", "tool_call_id": "c1"]]
            #expect(try await server.post(chat, ["messages": history, "max_tokens": 1]).status == 200)
            var odd = call
            odd["type"] = "retrieval"
            expectError(try await server.post(chat, ["messages": [hello, ["role": "assistant", "content": NSNull(), "tool_calls": [odd]]]]), 400)
            expectError(try await server.post(chat, ["messages": [["role": "user", "content": "Hi", "weight": 2]]]),
                        400, param: "messages[0].weight")
            expectError(try await server.post("/tokenize", ["messages": [["role": "user", "content": "Hi", "name": "ann"]]]),
                        400, param: "messages[0].name")
            // A prompt of characters the vocabulary lacks has no tokens: the model starts from BOS alone.
            let controls = try await server.post("/v1/completions", ["prompt": "\u{13}", "max_tokens": 1])
            #expect(controls.status == 200)
            #expect((controls.json["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 1)
            // The tokenizer endpoints refuse what they do not read, as the completions do.
            expectError(try await server.post("/tokenize", ["prompt": "Hi", "return_token_strs": true]), 400, param: "return_token_strs")
            #expect(try await server.post("/tokenize", ["prompt": "Hi", "add_special_tokens": false]).status == 200)
            expectError(try await server.post("/tokenize", ["prompt": "Hi", "add_special": true, "add_special_tokens": "no"]), 400)
            expectError(try await server.post("/detokenize", ["tokens": [1, 2], "skip_special_tokens": true]), 400, param: "skip_special_tokens")
            #expect(try await server.post("/detokenize", ["tokens": [1, 2], "model": TestServer.servedName]).status == 200)

            let stream: [String: Any] = ["messages": [hello], "max_tokens": 1, "stream": true]
            var options = stream
            options["stream_options"] = ["include_usage": true, "include_obfuscation": true, "continuous_usage_stats": false]
            #expect(try await server.post(chat, options).status == 200)
            options["stream_options"] = ["continuous_usage_stats": true]
            expectError(try await server.post(chat, options), 400, param: "stream_options.continuous_usage_stats")
            options["stream_options"] = ["include_usage": true, "chunk_size": 4]
            expectError(try await server.post(chat, options), 400, param: "stream_options.chunk_size")
            options["stream_options"] = ["include_usage": "yes"]
            expectError(try await server.post(chat, options), 400, param: "stream_options.include_usage")
        }
    }

    /// docs/openapi.yaml lists every field the server knows of but does not implement, and docs/serving.md
    /// says why each is ignored or refused.
    @Test(.httpLayer) func everyUnimplementedFieldIsDocumented() throws {
        let api = try String(contentsOf: PythonTools.packageRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let serving = try String(contentsOf: PythonTools.packageRoot.appendingPathComponent("docs/serving.md"), encoding: .utf8)
        for field in UnimplementedField.requestFields + UnimplementedField.messageFields + UnimplementedField.streamOptionFields {
            #expect(api.contains("\n    \(field.name):") || api.contains("\n        \(field.name):"), "openapi.yaml: \(field.name)")
            #expect(serving.contains("`\(field.name)`"), "serving.md: \(field.name)")
        }
    }

    @Test(.httpLayer) func unknownModelAndRoute() async throws {
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

    @Test(.httpLayer) func bodyOverTheLimit() async throws {
        try await TestServer.with(configure: { $0.maxBodyBytes = 2048 }) { (server: TestServer) async throws in
            let big = String(repeating: "a", count: 4096)
            expectError(try await server.post("/v1/completions", ["prompt": big]), 413)
            expectError(try await server.post("/tokenize", ["prompt": big]), 413)
        }
    }

    @Test(.httpLayer) func apiKeys() async throws {
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
            #expect(try await eventually { try await server.metric("vllm:num_requests_waiting") == 1 })
            let refused = try await server.post("/v1/completions", ["prompt": "Hi", "max_tokens": 1])
            expectError(refused, 429, code: "queue_full")
            #expect(refused.header("retry-after") == "1")
            waiting.cancel()
            _ = try? await waiting.value
        }
    }
}

extension JSONValue {
    /// The value as `JSONSerialization` writes it.
    var foundationObject: Any {
        switch self {
        case .null: NSNull()
        case .bool(let value): value
        case .int(let value): value
        case .double(let value): value
        case .string(let value): value
        case .array(let values): values.map(\.foundationObject)
        case .object(let values): Dictionary(uniqueKeysWithValues: values.map { ($0.key, $0.value.foundationObject) })
        }
    }
}

import Foundation
import SkiffJSON
import Testing

/// Tool calling over real HTTP with the real model (whose template does not show tools, so Skiff's instructions and
/// the generic format apply): named and required calls made under the tools' schemas, a tool loop, streamed calls,
/// and requests whose tools cannot be used.
@Suite struct ToolCallingTests {
    let chat = "/v1/chat/completions"
    static var weather: [String: Any] { [
        "type": "function",
        "function": ["name": "get_weather", "description": "The weather in a city.",
                     "parameters": ["type": "object", "properties": ["city": ["type": "string", "maxLength": 30],
                                                                     "unit": ["enum": ["celsius", "fahrenheit"]]],
                                    "required": ["city", "unit"], "additionalProperties": false]],
    ] }
    static var time: [String: Any] { [
        "type": "function",
        "function": ["name": "get_time", "parameters": ["type": "object", "properties": ["zone": ["type": "string", "maxLength": 30]],
                                                        "required": ["zone"], "additionalProperties": false]],
    ] }
    let question: [String: Any] = ["role": "user", "content": "What is the weather in Paris?"]

    func calls(_ reply: TestServer.Reply) -> [[String: Any]] {
        ((reply.json.choice?["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]]) ?? []
    }

    func arguments(_ call: [String: Any]) throws -> JSONValue {
        try JSONValue(parsing: try #require((call["function"] as? [String: Any])?["arguments"] as? String))
    }

    @Test func aNamedFunctionIsCalledWithArgumentsValidUnderItsSchema() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let reply = try await server.post(chat, ["messages": [question], "tools": [Self.weather, Self.time], "max_tokens": 60, "seed": 1,
                                                     "tool_choice": ["type": "function", "function": ["name": "get_weather"]]])
            #expect(reply.status == 200, "\(reply.body)")
            guard reply.json.choice?["finish_reason"] as? String == "tool_calls" else {
                #expect(reply.json.choice?["finish_reason"] as? String == "length", "\(reply.body)")
                return
            }
            let message = try #require(reply.json.choice?["message"] as? [String: Any])
            #expect(message["content"] is NSNull)
            let call = try #require(calls(reply).first)
            #expect((call["id"] as? String)?.hasPrefix("call_") == true && call["type"] as? String == "function")
            #expect((call["function"] as? [String: Any])?["name"] as? String == "get_weather")
            let args = try arguments(call)
            // Both properties, whatever their order (this test's body comes from a dictionary, which has none).
            #expect(Set(args.objectValue?.keys ?? []) == ["city", "unit"])
            #expect(["celsius", "fahrenheit"].contains(args["unit"]?.stringValue ?? ""))
        }
    }

    @Test func requiredMakesAtLeastOneCallAndParallelFalseAtMostOne() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let reply = try await server.post(chat, ["messages": [question], "tools": [Self.weather, Self.time], "max_tokens": 80, "seed": 2,
                                                     "tool_choice": "required", "parallel_tool_calls": false])
            #expect(reply.status == 200, "\(reply.body)")
            guard reply.json.choice?["finish_reason"] as? String == "tool_calls" else { return }
            let made = calls(reply)
            #expect(made.count == 1)
            #expect(["get_weather", "get_time"].contains((made.first?["function"] as? [String: Any])?["name"] as? String ?? ""))
        }
    }

    @Test func aToolLoopEndsInAnAnswer() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let first = try await server.post(chat, ["messages": [question], "tools": [Self.weather], "max_tokens": 60, "seed": 3,
                                                     "tool_choice": ["type": "function", "function": ["name": "get_weather"]]])
            let call = try #require(calls(first).first, "\(first.body)")
            let id = try #require(call["id"] as? String)
            let assistant: [String: Any] = ["role": "assistant", "content": NSNull(), "tool_calls": [call]]
            let result: [String: Any] = ["role": "tool", "tool_call_id": id, "content": #"{"temperature": 18, "sky": "clear"}"#]
            let second = try await server.post(chat, ["messages": [question, assistant, result], "tools": [Self.weather], "max_tokens": 30,
                                                      "tool_choice": "none", "seed": 3])
            #expect(second.status == 200, "\(second.body)")
            let message = try #require(second.json.choice?["message"] as? [String: Any])
            #expect((message["content"] as? String)?.isEmpty == false)
            #expect(message["tool_calls"] == nil)
            #expect(["stop", "length"].contains(second.json.choice?["finish_reason"] as? String ?? ""))
        }
    }

    @Test func aStreamedCallComesAsItsNameThenArgumentFragments() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let reply = try await server.post(chat, ["messages": [question], "tools": [Self.weather], "max_tokens": 60, "seed": 4, "stream": true,
                                                     "tool_choice": ["type": "function", "function": ["name": "get_weather"]]])
            #expect(reply.status == 200)
            let events = reply.body.split(separator: "\n").filter { $0.hasPrefix("data: {") }.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8))) as? [String: Any]
            }
            let deltas = events.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
            let fragments = deltas.compactMap { ($0["tool_calls"] as? [[String: Any]])?.first }
            let head = try #require(fragments.first)
            #expect(head["index"] as? Int == 0 && head["type"] as? String == "function" && (head["id"] as? String)?.isEmpty == false)
            #expect((head["function"] as? [String: Any])?["name"] as? String == "get_weather")
            #expect(fragments.dropFirst().allSatisfy { $0["id"] == nil && ($0["function"] as? [String: Any])?["name"] == nil })
            let finish = events.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }.last
            let text = fragments.compactMap { ($0["function"] as? [String: Any])?["arguments"] as? String }.joined()
            if finish == "tool_calls" { #expect(try JSONValue(parsing: text)["city"]?.stringValue != nil, "\(text)") }
            #expect(["tool_calls", "length"].contains(finish ?? ""))
        }
    }

    @Test(.httpLayer) func toolsThatCannotBeUsedAreRefusedNamingTheField() async throws {
        let hi: [String: Any] = ["role": "user", "content": "Hi"]
        let cases: [(path: String, fields: [String: Any], param: String, words: String)] = [
            (chat, ["tool_choice": "required"], "tool_choice", "no tools"),
            (chat, ["tools": [Self.weather], "tool_choice": ["type": "function", "function": ["name": "launch"]]], "tool_choice", "'launch'"),
            (chat, ["tools": [Self.weather], "tool_choice": "sometimes"], "tool_choice", "\"required\""),
            (chat, ["tools": [["type": "function", "function": ["name": "has space"]]]], "tools[0].function.name", "letters"),
            (chat, ["tools": [["type": "retrieval"]]], "tools[0].type", "function"),
            (chat, ["tools": [Self.weather, Self.weather]], "tools", "unique"),
            (chat, ["tools": [Self.weather], "logprobs": true], "logprobs", "tools"),
            (chat, ["tools": [Self.weather], "tool_choice": "required", "response_format": ["type": "json_object"]], "response_format", "Leave one out"),
            (chat, ["tools": [["type": "function", "function": ["name": "f", "parameters": ["type": "object", "not": [:]]]]], "tool_choice": "required"],
             "tools", "'not'"),
            ("/v1/completions", ["tools": [Self.weather]], "tools", "/v1/chat/completions"),
        ]
        try await TestServer.with { (server: TestServer) async throws in
            for (path, fields, param, words) in cases {
                var body: [String: Any] = path == chat ? ["messages": [hi]] : ["prompt": "Hi"]
                body["max_tokens"] = 1
                for (key, value) in fields { body[key] = value }
                let reply = try await server.post(path, body)
                #expect(reply.status == 400, "\(fields): \(reply.body)")
                #expect(reply.error?["param"] as? String == param, "\(fields): \(reply.body)")
                #expect((reply.error?["message"] as? String)?.contains(words) == true, "\(fields): \(reply.body)")
            }
        }
    }
}

import Foundation
import SkiffJSON
import Testing

/// Output constraints over real HTTP with the real model: each field name clients send, the answer inside its
/// constraint, and constraints that cannot be used refused with 400 naming the field.
@Suite struct StructuredOutputTests {
    let chat = "/v1/chat/completions"

    func ask(_ server: TestServer, _ path: String = "/v1/chat/completions", content: String, maxTokens: Int = 60,
             _ fields: [String: Any]) async throws -> (text: String, finish: String) {
        var body: [String: Any] = path == chat ? ["messages": [["role": "user", "content": content]]] : ["prompt": content]
        body["max_tokens"] = maxTokens
        body["temperature"] = 0.8
        body["seed"] = 11
        for (key, value) in fields { body[key] = value }
        let reply = try await server.post(path, body)
        #expect(reply.status == 200, "\(reply.body)")
        let choice = reply.json.choice
        let text = (choice?["message"] as? [String: Any])?["content"] as? String ?? choice?["text"] as? String ?? ""
        return (text, choice?["finish_reason"] as? String ?? "")
    }

    @Test func aJSONSchemaAnswerParsesWithItsRequiredPropertiesInOrder() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            // The properties are written in the schema's order (the body is JSON text with keys in this order).
            let body = #"{"messages": [{"role": "user", "content": "Describe a person as JSON."}], "max_tokens": 80, "seed": 3, "#
                + #""response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": "#
                + #"{"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}, "#
                + #""age": {"type": "integer", "minimum": 0, "maximum": 120}, "#
                + #""pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3}}, "#
                + #""required": ["name", "age", "pets"], "additionalProperties": false}}}}"#
            let reply = try await server.post(chat, raw: body)
            #expect(reply.status == 200, "\(reply.body)")
            let text = try #require((reply.json.choice?["message"] as? [String: Any])?["content"] as? String)
            let finish = reply.json.choice?["finish_reason"] as? String
            guard finish == "stop" else { return } // cut off at max_tokens: the JSON is unfinished, as OpenAI's would be
            let value = try JSONValue(parsing: text)
            #expect(value.objectValue?.keys == ["name", "age", "pets"])
            #expect((0 ... 120).contains(value["age"]?.integerValue ?? -1))
            #expect(value["pets"]?.arrayValue?.allSatisfy { ["cat", "dog", "fish"].contains($0.stringValue ?? "") } == true)
        }
    }

    @Test func everyConstraintFieldIsHonoured() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            let object = try await ask(server, content: "List three fruits as JSON.", ["response_format": ["type": "json_object"]])
            if object.finish == "stop" { #expect(try JSONValue(parsing: object.text).objectValue != nil, "\(object.text)") }

            let choice = try await ask(server, content: "Is the sky blue?", ["guided_choice": ["yes", "no", "maybe"]])
            #expect(["yes", "no", "maybe"].contains(choice.text) && choice.finish == "stop", "\(choice)")

            let regex = try await ask(server, content: "A phone number:", ["guided_regex": #"\(\d{3}\) \d{3}-\d{4}"#])
            #expect(regex.text.range(of: #"^\(\d{3}\) \d{3}-\d{4}$"#, options: .regularExpression) != nil && regex.finish == "stop", "\(regex)")

            for field in ["grammar", "guided_grammar"] {
                let answer = try await ask(server, content: "Count to three.", [field: #"root ::= [1-9] ("," [1-9]){2}"#])
                #expect(answer.text.range(of: #"^[1-9](,[1-9]){2}$"#, options: .regularExpression) != nil && answer.finish == "stop", "\(answer)")
            }

            let vLLM = try await ask(server, content: "Pick a colour.", ["structured_outputs": ["choice": ["red", "blue"]]])
            #expect(["red", "blue"].contains(vLLM.text), "\(vLLM)")

            let number = ["type": "integer", "minimum": 10, "maximum": 99] as [String: Any]
            for field in ["guided_json", "json_schema"] {
                let answer = try await ask(server, content: "A number between 10 and 99:", [field: number])
                #expect((10 ... 99).contains(Int(answer.text) ?? 0) && answer.finish == "stop", "\(field): \(answer)")
            }
            // vLLM also takes the schema as JSON text.
            let text = try await ask(server, content: "A number:", ["guided_json": #"{"type": "integer", "minimum": 10, "maximum": 99}"#])
            #expect((10 ... 99).contains(Int(text.text) ?? 0), "\(text)")

            // Text completions take the same fields.
            let completion = try await ask(server, "/v1/completions", content: "The capital of France is", ["guided_choice": ["Paris", "Lyon"]])
            #expect(["Paris", "Lyon"].contains(completion.text), "\(completion)")

            // A stream carries the same text in pieces.
            let reply = try await server.post(chat, ["messages": [["role": "user", "content": "Yes or no?"]], "stream": true, "max_tokens": 10,
                                                     "guided_choice": ["affirmative", "negative"]])
            let pieces = reply.body.split(separator: "\n").filter { $0.hasPrefix("data: {") }.compactMap { line -> String? in
                let event = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]
                return ((event?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
            }
            #expect(["affirmative", "negative"].contains(pieces.joined()), "\(reply.body)")
        }
    }

    @Test(.httpLayer) func constraintsThatCannotBeUsedAreRefusedNamingTheField() async throws {
        let refusals: [(fields: String, param: String, words: String)] = [
            (#""response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "multipleOf": 3}}}"#,
             "response_format", "'multipleOf'"),
            (##""response_format": {"type": "xml"}"##, "response_format.type", "json_schema"),
            (##""response_format": {"type": "json_schema"}"##, "response_format.json_schema", "required"),
            (##""guided_json": {"type": "string", "format": "ipv6"}"##, "guided_json", "'format'"),
            (##""guided_json": "{not json""##, "guided_json", "JSON schema"),
            (##""guided_regex": "(a""##, "guided_regex", "never closed"),
            (##""guided_regex": "(?=a)b""##, "guided_regex", "lookaround"),
            (##""guided_choice": []"##, "guided_choice", "non-empty"),
            (##""guided_choice": ["a", 1]"##, "guided_choice", "strings"),
            (##""grammar": "root ::= foo""##, "grammar", "never defined"),
            (##""grammar": "root ::= root \"a\" | \"b\"""##, "grammar", "left-recursive"),
            (##""guided_grammar": "start ::= \"a\"""##, "guided_grammar", "root"),
            (##""structured_outputs": {"regex": "a", "choice": ["b"]}"##, "structured_outputs", "exactly one"),
            (##""guided_regex": "a", "grammar": "root ::= \"a\"""##, "guided_regex", "one output constraint"),
            (##""guided_json": {"type": "string", "maxLength": 100000}"##, "guided_json", "10000"),
        ]
        try await TestServer.with { (server: TestServer) async throws in
            for (fields, param, words) in refusals {
                let reply = try await server.post(chat, raw: #"{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, \#(fields)}"#)
                #expect(reply.status == 400, "\(fields): \(reply.body)")
                let error = reply.error ?? [:]
                let message = error["message"] as? String ?? ""
                #expect(message.contains(words), "\(fields): \(message)")
                #expect((error["param"] as? String).map { $0 == param || (param == "guided_regex" && $0 == "grammar") } == true,
                        "\(fields): param \(String(describing: error["param"]))")
            }
        }
    }
}

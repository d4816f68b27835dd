import Foundation
import Testing

@testable import SkiffChatTemplate

/// The API the engine uses: `ChatTemplate`, `ChatMessage`, `TemplateValue`, `ChatTemplateError`.
@Suite("Public API")
struct PublicAPITests {
    private let smolLM = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

    @Test("Renders messages, the generation prompt and special tokens")
    func render() throws {
        let template = try ChatTemplate(source: "{{ bos_token }}" + smolLM + "{{ eos_token }}")
        let output = try template.render(
            messages: [ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Hello")],
            addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
        #expect(output == "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>assistant\n</s>")
    }

    @Test("Extra variables reach the template, in order, and cannot replace the named ones")
    func extraVariables() throws {
        let template = try ChatTemplate(
            source: "{{ tools|tojson }}|{{ enable_thinking }}|{{ messages|length }}|{{ add_generation_prompt }}|{{ documents }}")
        let tools: TemplateValue = [["name": "zeta", "parameters": ["b": 1, "a": 2.5]], ["name": "alpha", "flag": .none]]
        let output = try template.render(
            messages: [ChatMessage(role: "user", content: "x")], addGenerationPrompt: false, bosToken: "", eosToken: "",
            extraVariables: [
                "tools": tools, "enable_thinking": false, "messages": [], "add_generation_prompt": true,
            ])
        #expect(output == #"[{"name": "zeta", "parameters": {"b": 1, "a": 2.5}}, {"name": "alpha", "flag": null}]|False|1|False|None"#)
    }

    @Test("strftime_now uses the current date when rendering for real")
    func currentDate() throws {
        let template = try ChatTemplate(source: "{{ strftime_now('%Y') }}")
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        let output = try template.render(messages: [], addGenerationPrompt: false, bosToken: "", eosToken: "")
        #expect([String(year), String(year + 1), String(year - 1)].contains(output))
    }

    @Test("A parsed template renders concurrently from many tasks")
    func concurrentRendering() async throws {
        let template = try ChatTemplate(source: smolLM)
        let outputs = await withTaskGroup(of: String?.self) { group in
            for index in 0..<32 {
                group.addTask {
                    try? template.render(
                        messages: [ChatMessage(role: "user", content: "message \(index)")], addGenerationPrompt: true,
                        bosToken: "", eosToken: "")
                }
            }
            var results: [String?] = []
            for await output in group { results.append(output) }
            return results
        }
        #expect(outputs.count == 32)
        #expect(Set(outputs.compactMap { $0 }).count == 32)
    }

    @Test("TemplateValue literals and equality follow Python")
    func templateValue() {
        let value: TemplateValue = ["a": 1, "b": [true, 2.5, "x", .none]]
        #expect(value == .object([(key: "a", value: .int(1)), (key: "b", value: .array([.bool(true), .double(2.5), .string("x"), .none]))]))
        #expect(value == ["b": [true, 2.5, "x", .none], "a": 1.0])
        #expect(TemplateValue.int(1) == .double(1))
        #expect(TemplateValue.bool(true) == .int(1))
        #expect(TemplateValue.string("1") != .int(1))
        #expect(TemplateValue.array([1]) != .array([1, 2]))
    }

    @Test("ChatTemplateError describes itself with and without a location")
    func errorDescription() {
        let located = ChatTemplateError(.syntax, "unknown filter 'foo'", at: SourceLocation(line: 3, column: 12))
        #expect(located.description == "chat template line 3, column 12: unknown filter 'foo'")
        let unlocated = ChatTemplateError(.limitExceeded, "too much")
        #expect(unlocated.description == "chat template: too much")
        #expect(unlocated.line == nil && unlocated.column == nil)
    }
}

/// `TemplateValue(json:)`, which the engine uses to pass request data such as `tools` through.
@Suite("JSON values")
struct JSONValueTests {
    @Test("Keeps key order and number kinds")
    func parses() throws {
        let value = try TemplateValue(
            json: #" { "z": 1, "a": [1.5, -2, 3e2, true, false, null, "x\n\u00e9\ud83d\ude00\"\\\/"], "e": {}, "l": [] } "#)
        #expect(
            value
                == .object([
                    (key: "z", value: .int(1)),
                    (key: "a", value: [.double(1.5), .int(-2), .double(300), true, false, .none, "x\né😀\"\\/"]),
                    (key: "e", value: .object([])), (key: "l", value: .array([])),
                ]))
        guard case .object(let pairs) = value else { return }
        #expect(pairs.map(\.key) == ["z", "a", "e", "l"])
    }

    @Test("A repeated key keeps its first place and its last value")
    func duplicateKeys() throws {
        let value = try TemplateValue(json: #"{"a": 1, "b": 2, "a": 3}"#)
        guard case .object(let pairs) = value else {
            Issue.record("not an object")
            return
        }
        #expect(pairs.map(\.key) == ["a", "b"])
        #expect(pairs.first?.value == .int(3))
    }

    @Test("Integers too large for Int become doubles")
    func largeIntegers() throws {
        #expect(try TemplateValue(json: "123456789012345678901234567890") == .double(1.2345678901234568e29))
    }

    @Test("Malformed JSON is reported with its place", arguments: [
        ("", 1, 1), ("{", 1, 2), ("[1,]", 1, 4), ("{\"a\" 1}", 1, 6), ("\"abc", 1, 5), ("tru", 1, 4),
        ("01", 1, 2), ("[1]\n x", 2, 2), ("\"\\x\"", 1, 4), ("{\"a\":\n  -}", 2, 4), ("\"\u{01}\"", 1, 3),
    ])
    func malformed(text: String, line: Int, column: Int) {
        let error = #expect(throws: ChatTemplateError.self) { try TemplateValue(json: text) }
        #expect(error?.code == .invalidJSON)
        #expect(error?.line == line)
        #expect(error?.column == column)
        #expect(error?.description.hasPrefix("JSON value line \(line), column \(column): ") == true)
    }

    @Test("Deep nesting is refused, not a stack overflow")
    func deepNesting() {
        let error = #expect(throws: ChatTemplateError.self) {
            try TemplateValue(json: String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
        }
        #expect(error?.code == .invalidJSON)
    }
}

/// `strftime_now` formats the C library's way.
@Suite("strftime_now")
struct StrftimeTests {
    @Test("Formats the fixed test instant", arguments: [
        ("%d %b %Y", "14 Mar 2025"), ("%Y-%m-%dT%H:%M:%S", "2025-03-14T15:09:26"), ("%A, %B %-d", "Friday, March 14"),
        ("%a %e %j %I %p %y %w %u", "Fri 14 073 03 PM 25 5 5"), ("%F %T %D %R", "2025-03-14 15:09:26 03/14/25 15:09"),
        ("%z %%", "+0000 %"), ("%Q %", "%Q %"), ("plain", "plain"),
    ])
    func format(format: String, expected: String) {
        #expect(Strftime.format(format, date: Fixtures.clock.date, timeZone: Fixtures.clock.timeZone) == expected)
    }

    @Test("Uses the given time zone")
    func timeZone() throws {
        let tokyo = try #require(TimeZone(identifier: "Asia/Tokyo"))
        #expect(Strftime.format("%d %H %z", date: Fixtures.clock.date, timeZone: tokyo) == "15 00 +0900")
    }
}

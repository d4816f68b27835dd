import Foundation
import SkiffGrammar
import SkiffJSON
import SkiffToolCalling
import Testing

@Suite struct ToolCallFormatTests {
    static let tools = [
        ToolDefinition(name: "get_weather", parameters: ["type": "object", "properties": ["city": ["type": "string"], "unit": ["enum": ["celsius", "fahrenheit"]]],
                                                          "required": ["city"]]),
        ToolDefinition(name: "get_time", parameters: ["type": "object", "properties": ["zone": ["type": "string"]]]),
    ]

    struct Recorded: Sendable, CustomTestStringConvertible {
        var format: ToolCallFormat
        var note: String
        var text: String
        var content: String
        var calls: [[String]]
        var testDescription: String { "\(format.rawValue): \(note)" }
    }

    static let recorded: [Recorded] = {
        let url = Bundle.module.url(forResource: "tool-call-outputs", withExtension: "json", subdirectory: "Fixtures")!
        let value = try! JSONValue(parsing: String(contentsOf: url, encoding: .utf8))
        return value.arrayValue!.map { item in
            Recorded(format: ToolCallFormat(rawValue: item["format"]!.stringValue!)!, note: item["note"]!.stringValue!,
                     text: item["text"]!.stringValue!, content: item["content"]!.stringValue!,
                     calls: item["calls"]!.arrayValue!.map { $0.arrayValue!.map { $0.stringValue! } })
        }
    }()

    @Test(arguments: recorded)
    func eachFormatsOutputsParseToTheirCalls(_ case: Recorded) {
        let (content, calls) = `case`.format.parse(`case`.text, tools: Self.tools)
        #expect(calls.map { [$0.name, $0.arguments] } == `case`.calls)
        #expect(content == `case`.content)
    }

    @Test func theFormatComesFromTheChatTemplate() {
        #expect(ToolCallFormat.detect(chatTemplate: "{% if tools %}<tool_call>{{ tools }}</tool_call>{% endif %}") == .hermes)
        #expect(ToolCallFormat.detect(chatTemplate: "{% if tools %}[AVAILABLE_TOOLS]{% endif %}[TOOL_CALLS]") == .mistral)
        #expect(ToolCallFormat.detect(chatTemplate: "{% if tools %}Environment: ipython{% endif %}<|python_tag|>") == .llama3)
        #expect(ToolCallFormat.detect(chatTemplate: "<|im_start|>{{ message.content }}") == .generic)
        #expect(ToolCallFormat.detect(chatTemplate: nil) == .generic)
    }

    @Test func callIDsFitEachFamily() {
        var generator = SystemRandomNumberGenerator()
        let mistral = ToolCallFormat.mistral.newCallID(using: &generator)
        #expect(mistral.count == 9 && mistral.allSatisfy { $0.isLetter || $0.isNumber })
        #expect(ToolCallFormat.hermes.newCallID(using: &generator).hasPrefix("call_"))
    }

    @Test func requiredAndNamedChoicesHaveGrammarsOfTheTools() throws {
        let trie = TokenTrie(tokens: (0x20 ... 0x7E).map { [UInt8($0)] })
        func matches(_ grammar: Grammar, _ text: String) throws -> Bool {
            var matcher = GrammarMatcher(try CompiledGrammar(grammar, trie: trie))
            return matcher.accept(bytes: Array(text.utf8)) && matcher.canEnd
        }
        func grammar(_ choice: ToolChoice, parallel: Bool = true) throws -> Grammar? {
            try ToolCallFormat.schema(for: choice, tools: Self.tools, parallel: parallel).map { try Grammar(jsonSchema: $0) }
        }
        let required = try #require(try grammar(.required))
        #expect(try matches(required, #"[{"name":"get_weather","arguments":{"city":"Paris"}},{"name":"get_time","arguments":{}}]"#))
        #expect(try !matches(required, #"[]"#))
        #expect(try !matches(required, #"[{"name":"get_weather","arguments":{}}]"#)) // city is required
        #expect(try !matches(required, #"[{"name":"launch","arguments":{}}]"#))
        let single = try #require(try grammar(.required, parallel: false))
        #expect(try !matches(single, #"[{"name":"get_time","arguments":{}},{"name":"get_time","arguments":{}}]"#))
        let named = try #require(try grammar(.function("get_weather")))
        #expect(try matches(named, #"{"city":"Paris","unit":"celsius"}"#))
        #expect(ToolCallFormat.schema(for: .auto, tools: Self.tools, parallel: true) == nil)

        let calls = ToolCallFormat.constrainedCalls(in: #"[{"name":"get_time","arguments":{"zone":"UTC"}}]"#, choice: .required)
        #expect(calls.map(\.name) == ["get_time"] && calls.map(\.arguments) == [#"{"zone":"UTC"}"#])
        #expect(ToolCallFormat.constrainedCalls(in: #"{"city":"Oslo"}"#, choice: .function("get_weather")).map(\.arguments) == [#"{"city":"Oslo"}"#])
    }

    @Test func toolChoicesAreCheckedAgainstTheTools() throws {
        #expect(try ToolChoice(json: nil, tools: Self.tools) == .auto)
        #expect(try ToolChoice(json: nil, tools: []) == .none)
        #expect(try ToolChoice(json: ["type": "function", "function": ["name": "get_time"]], tools: Self.tools) == .function("get_time"))
        #expect(throws: ToolCallError.self) { try ToolChoice(json: ["type": "function", "function": ["name": "nope"]], tools: Self.tools) }
        #expect(throws: ToolCallError.self) { try ToolChoice(json: "required", tools: []) }
        #expect(throws: ToolCallError.self) { try ToolChoice(json: "sometimes", tools: Self.tools) }
        #expect(throws: ToolCallError.self) { try ToolDefinition(json: ["type": "function", "function": ["name": "has space"]], path: "tools[0]") }
        #expect(throws: ToolCallError.self) { try ToolDefinition(json: ["type": "retrieval"], path: "tools[0]") }
    }
}

@Suite struct ToolCallStreamTests {
    /// Feeds `text` in pieces of `size` characters; returns the events.
    func stream(_ text: String, format: ToolCallFormat, choice: ToolChoice = .auto, size: Int) -> [ToolCallStream.Event] {
        var stream = ToolCallStream(format: format, tools: ToolCallFormatTests.tools, choice: choice, parallel: true,
                                    ids: (0 ..< 8).map { "id\($0)" })
        var events: [ToolCallStream.Event] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            events += stream.feed(String(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        return events + stream.finish()
    }

    func calls(_ events: [ToolCallStream.Event]) -> [[String]] {
        var names: [Int: String] = [:]
        var arguments: [Int: String] = [:]
        for event in events {
            switch event {
            case .call(let index, _, let name):
                #expect(names[index] == nil && arguments[index] == nil, "a call's name comes before its arguments, once")
                names[index] = name
            case .arguments(let index, let fragment):
                #expect(names[index] != nil)
                arguments[index, default: ""] += fragment
            case .content: break
            }
        }
        return names.keys.sorted().map { [names[$0]!, arguments[$0] ?? ""] }
    }

    func content(_ events: [ToolCallStream.Event]) -> String {
        events.compactMap { if case .content(let text) = $0 { text } else { nil } }.joined()
    }

    @Test(arguments: ToolCallFormatTests.recorded, [1, 4, 1000])
    func streamedCallsEqualTheWholeAnswersCalls(_ case: ToolCallFormatTests.Recorded, size: Int) {
        let events = stream(`case`.text, format: `case`.format, size: size)
        #expect(calls(events) == `case`.calls)
        #expect(content(events).trimmingCharacters(in: .whitespacesAndNewlines) == `case`.content)
    }

    @Test func textThatCannotBeACallStreamsAtOnce() {
        var stream = ToolCallStream(format: .generic, tools: ToolCallFormatTests.tools, choice: .auto, parallel: true, ids: [])
        #expect(stream.feed("The wea") == [.content("The wea")])
        #expect(stream.feed("ther") == [.content("ther")])
        var hermes = ToolCallStream(format: .hermes, tools: ToolCallFormatTests.tools, choice: .auto, parallel: true, ids: [])
        #expect(hermes.feed("Sure <tool") == [.content("Sure ")]) // "<tool" may begin a call: held back
        #expect(hermes.feed("tip>") == [.content("<tooltip>")])
    }

    @Test func aNamedFunctionStreamsItsArgumentsAsTheyCome() {
        let events = stream(#"{"city": "Paris"}"#, format: .hermes, choice: .function("get_weather"), size: 5)
        #expect(events.first == .call(index: 0, id: "id0", name: "get_weather"))
        #expect(events.count > 3)
        #expect(calls(events) == [["get_weather", #"{"city": "Paris"}"#]])
    }

    @Test func requiredCallsStreamAsEachCompletes() {
        var stream = ToolCallStream(format: .generic, tools: ToolCallFormatTests.tools, choice: .required, parallel: true, ids: ["a", "b"])
        #expect(stream.feed(#"[{"name":"get_time","arguments":{"zone":"U"#).isEmpty)
        #expect(stream.feed(#"TC"}}, {"name":"get_weather","#) == [.call(index: 0, id: "a", name: "get_time"), .arguments(index: 0, #"{"zone":"UTC"}"#)])
        #expect(stream.feed(#""arguments":{"city":"Rome"}}]"#) == [.call(index: 1, id: "b", name: "get_weather"), .arguments(index: 1, #"{"city":"Rome"}"#)])
        #expect(stream.finish().isEmpty)
    }
}

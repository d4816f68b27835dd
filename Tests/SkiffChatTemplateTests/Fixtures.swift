import Foundation
import Testing

@testable import SkiffChatTemplate

/// Loads the data files in `Fixtures/` (written by `Fixtures/generate.py` from Python Jinja2).
enum Fixtures {
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// The instant `generate.py` gives `strftime_now`: 2025-03-14 15:09:26 UTC.
    static let clock = RenderClock(
        date: Date(timeIntervalSince1970: 1_741_964_966), timeZone: TimeZone(identifier: "UTC") ?? .current)

    static func directory() throws -> URL {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw LoadError(description: "the Fixtures resource directory is missing from the test bundle")
        }
        return url
    }

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: directory().appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// A fixture JSON file, read with the module's own order-preserving parser.
    static func json(_ relativePath: String) throws -> TemplateValue {
        try TemplateValue(json: text(relativePath))
    }

    static func conversationCases() throws -> [ConversationCase] {
        let files = try FileManager.default.contentsOfDirectory(
            at: directory().appendingPathComponent("conversations"), includingPropertiesForKeys: nil)
        var cases: [ConversationCase] = []
        for file in files.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) where file.pathExtension == "json" {
            let spec = try json("conversations/" + file.lastPathComponent)
            let expected = try json("expected/" + file.lastPathComponent)
            let templateFile = try spec.field("template").string()
            let source = try text("templates/" + templateFile)
            for entry in try spec.field("cases").array() {
                let name = try entry.field("name").string()
                var variables: [String: TemplateValue] = [:]
                if case .object(let extra)? = entry["variables"] {
                    for (key, value) in extra { variables[key] = value }
                }
                variables["messages"] = try entry.field("messages")
                variables["add_generation_prompt"] = try entry.field("add_generation_prompt")
                variables["bos_token"] = try entry.field("bos_token")
                variables["eos_token"] = try entry.field("eos_token")
                cases.append(
                    ConversationCase(
                        template: templateFile, name: name, source: source, variables: variables,
                        expected: try ExpectedOutcome(try expected.field(name))))
            }
        }
        return cases
    }

    static func snippets(prefix: String) throws -> [SnippetCase] {
        let expected = try json("expected/snippets.json")
        return try json("snippets.json").array().compactMap { entry in
            let name = try entry.field("name").string()
            guard name.hasPrefix(prefix) else { return nil }
            var variables: [String: TemplateValue] = [:]
            if case .object(let pairs)? = entry["variables"] {
                for (key, value) in pairs { variables[key] = value }
            }
            return SnippetCase(
                name: name, template: try entry.field("template").string(), variables: variables,
                expected: try ExpectedOutcome(try expected.field(name)))
        }
    }
}

/// What Python Jinja2 produced: text, or an exception of a Python class with a message.
enum ExpectedOutcome: Sendable {
    case output(String)
    case error(type: String, message: String)

    init(_ value: TemplateValue) throws {
        if let output = value["output"] {
            self = .output(try output.string())
        } else {
            let error = try value.field("error")
            self = .error(type: try error.field("type").string(), message: try error.field("message").string())
        }
    }

    /// The error codes that correspond to a Python exception class.
    static func codes(forPythonError type: String) -> Set<ChatTemplateError.Code> {
        switch type {
        case "TemplateError": return [.raisedByTemplate]
        case "TemplateSyntaxError", "TemplateAssertionError", "SyntaxError": return [.syntax]
        case "UndefinedError": return [.undefinedValue]
        case "TypeError": return [.typeMismatch, .invalidArgument, .undefinedValue]
        case "ValueError", "ZeroDivisionError": return [.invalidArgument]
        case "SecurityError": return [.unsupportedFeature]
        case "TemplateRuntimeError": return [.typeMismatch]
        default: return []
        }
    }

    /// Checks a Swift rendering result against this outcome, byte for byte for text.
    func verify(_ result: Result<String, ChatTemplateError>, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        switch (self, result) {
        case (.output(let expected), .success(let actual)):
            #expect(Array(actual.utf8) == Array(expected.utf8), "rendered:\n\(actual)\nexpected:\n\(expected)", sourceLocation: sourceLocation)
        case (.error(let type, let message), .failure(let error)):
            #expect(ExpectedOutcome.codes(forPythonError: type).contains(error.code), "Python raised \(type): \(message); Swift threw \(error)", sourceLocation: sourceLocation)
            if type == "TemplateError" {
                #expect(error.message == message, sourceLocation: sourceLocation)
            }
        case (.output(let expected), .failure(let error)):
            Issue.record("expected output \(expected.debugDescription), got error \(error)", sourceLocation: sourceLocation)
        case (.error(let type, let message), .success(let actual)):
            Issue.record("expected Python's \(type) (\(message)), got output \(actual.debugDescription)", sourceLocation: sourceLocation)
        }
    }
}

struct ConversationCase: Sendable, CustomTestStringConvertible {
    var template: String
    var name: String
    var source: String
    var variables: [String: TemplateValue]
    var expected: ExpectedOutcome

    var testDescription: String { "\(template): \(name)" }

    /// The messages as `ChatMessage`s, when every message is a plain role/content pair.
    var plainMessages: [ChatMessage]? {
        guard case .array(let items)? = variables["messages"] else { return nil }
        var messages: [ChatMessage] = []
        for item in items {
            guard case .object(let pairs) = item, pairs.count == 2,
                case .string(let role)? = item["role"], case .string(let content)? = item["content"]
            else { return nil }
            messages.append(ChatMessage(role: role, content: content))
        }
        return messages
    }
}

struct SnippetCase: Sendable, CustomTestStringConvertible {
    var name: String
    var template: String
    var variables: [String: TemplateValue]
    var expected: ExpectedOutcome

    var testDescription: String { name }
}

/// Renders `source` with `variables` at the fixtures' fixed clock; parse errors count as failures.
func renderForTest(
    _ source: String, _ variables: [String: TemplateValue] = [:], limits: RenderLimits = .standard
) -> Result<String, ChatTemplateError> {
    do {
        let template = try ChatTemplate(source: source)
        return .success(try template.render(variables: variables, clock: Fixtures.clock, limits: limits))
    } catch {
        return .failure(error)
    }
}

extension TemplateValue {
    subscript(key: String) -> TemplateValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.last { $0.key == key }?.value
    }

    func field(_ key: String) throws -> TemplateValue {
        guard let value = self[key] else { throw Fixtures.LoadError(description: "fixture is missing '\(key)'") }
        return value
    }

    func string() throws -> String {
        guard case .string(let text) = self else { throw Fixtures.LoadError(description: "fixture value is not a string") }
        return text
    }

    func array() throws -> [TemplateValue] {
        guard case .array(let items) = self else { throw Fixtures.LoadError(description: "fixture value is not an array") }
        return items
    }
}

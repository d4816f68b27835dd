import Foundation
import SkiffJSON

/// One call the model made: OpenAI's `{"id", "type": "function", "function": {"name", "arguments"}}`.
public struct ToolCall: Sendable, Equatable {
    /// The call's id, which the client's `tool` message names.
    public var id: String
    /// The function.
    public var name: String
    /// The arguments as JSON text (an object).
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// How a model family writes tool calls in its text, chosen from its chat template.
///
/// - `hermes`: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, once per call (Hermes, Qwen 2.5 and 3).
/// - `llama3`: the answer is `{"name": ..., "parameters": {...}}`, calls separated by `;`, after an optional
///   `<|python_tag|>` (Llama 3.1 to 3.3).
/// - `mistral`: `[TOOL_CALLS]` then a JSON list of `{"name", "arguments"}`, or `name[ARGS]{...}` per call (newer templates).
/// - `generic`: a template that does not show tools to the model. Skiff tells the model about the tools in a system
///   message and reads `{"name": ..., "arguments": {...}}` (or a list of them) as the whole answer.
public enum ToolCallFormat: String, Sendable, CaseIterable {
    case hermes, llama3, mistral, generic

    /// The format of a model whose chat template is `source` (nil: no template).
    public static func detect(chatTemplate source: String?) -> ToolCallFormat {
        guard let source, source.contains("tools") else { return .generic }
        if source.contains("<tool_call>") { return .hermes }
        if source.contains("[TOOL_CALLS]") { return .mistral }
        if source.contains("<|python_tag|>") || source.contains("ipython") { return .llama3 }
        return .generic
    }

    /// Whether the chat template shows the tools to the model itself (else Skiff's system message does).
    public var templateShowsTools: Bool { self != .generic }

    /// A new call id: 9 letters and digits for Mistral's templates, which require exactly that; OpenAI's `call_`
    /// and 24 otherwise.
    public func newCallID<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let count = self == .mistral ? 9 : 24
        let body = String((0 ..< count).map { _ in alphabet.randomElement(using: &generator)! })
        return self == .mistral ? body : "call_" + body
    }

    /// The system message that describes the tools to a model whose template does not (`generic` only).
    public static func genericInstructions(for tools: [ToolDefinition]) -> String {
        let list = tools.map(\.json.jsonText).joined(separator: "\n")
        return """
            You can call these functions (JSON schemas of their arguments):
            \(list)
            To call a function, answer with only a JSON object {"name": <function name>, "arguments": <arguments object>}, \
            or a JSON list of such objects to call several. Otherwise answer normally.
            """
    }

    /// The text of the calls, as this format writes them (how an earlier answer is shown to a model whose template
    /// does not show `tool_calls`).
    public func text(of calls: [ToolCall]) -> String {
        let objects = calls.map { call in "{\"name\":\(JSONValue.quoted(call.name)),\"arguments\":\(call.arguments)}" }
        return objects.count == 1 ? objects[0] : "[" + objects.joined(separator: ",") + "]"
    }

    /// The calls in `text` (of known tools; text that only looks like a call stays text), and the text around them.
    public func parse(_ text: String, tools: [ToolDefinition]) -> (content: String, calls: [(name: String, arguments: String)]) {
        let known = Set(tools.map(\.name))
        func call(_ value: JSONValue) -> (name: String, arguments: String)? {
            guard let object = value.objectValue, let name = object["name"]?.stringValue, known.contains(name) else { return nil }
            let arguments = object["arguments"] ?? object["parameters"] ?? [:]
            let parsed: JSONValue
            if case .string(let text) = arguments, let inner = try? JSONValue(parsing: text) {
                parsed = inner
            } else {
                parsed = arguments
            }
            guard parsed.objectValue != nil else { return nil }
            return (name, parsed.jsonText)
        }
        func calls(_ value: JSONValue) -> [(name: String, arguments: String)]? {
            if let single = call(value) { return [single] }
            if let list = value.arrayValue, !list.isEmpty {
                let found = list.compactMap(call)
                return found.count == list.count ? found : nil
            }
            if let nested = value["tool_calls"]?.arrayValue {
                let found = nested.compactMap { call($0["function"] ?? $0) }
                return found.count == nested.count && !found.isEmpty ? found : nil
            }
            return nil
        }
        let trimmed = text.trimmingWhitespace
        switch self {
        case .hermes:
            var content = ""
            var found: [(name: String, arguments: String)] = []
            var rest = Substring(text)
            while let open = rest.range(of: "<tool_call>") {
                content += rest[..<open.lowerBound]
                let after = rest[open.upperBound...]
                let close = after.range(of: "</tool_call>")
                let body = close.map { after[..<$0.lowerBound] } ?? after
                guard let value = try? JSONValue(parsing: String(body).trimmingWhitespace), let made = calls(value) else {
                    return (text, [])
                }
                found += made
                rest = close.map { after[$0.upperBound...] } ?? ""
            }
            content += rest
            return (found.isEmpty ? text : content.trimmingWhitespace, found)
        case .mistral:
            guard let marker = text.range(of: "[TOOL_CALLS]") else { return (text, []) }
            let content = String(text[..<marker.lowerBound]).trimmingWhitespace
            let body = String(text[marker.upperBound...]).trimmingWhitespace
            if let value = try? JSONValue(parsing: body), let made = calls(value) { return (content, made) }
            // Newer templates: name[ARGS]{...}, repeated.
            var found: [(name: String, arguments: String)] = []
            for piece in body.components(separatedBy: "[TOOL_CALLS]") {
                guard let args = piece.range(of: "[ARGS]") else { return (text, []) }
                let name = String(piece[..<args.lowerBound]).trimmingWhitespace
                guard let value = try? JSONValue(parsing: String(piece[args.upperBound...]).trimmingWhitespace),
                      let made = call(["name": .string(name), "arguments": value]) else { return (text, []) }
                found.append(made)
            }
            return (content, found)
        case .llama3:
            var body = trimmed
            if body.hasPrefix("<|python_tag|>") { body = String(body.dropFirst("<|python_tag|>".count)).trimmingWhitespace }
            if let value = try? JSONValue(parsing: body), let made = calls(value) { return ("", made) }
            var found: [(name: String, arguments: String)] = []
            for piece in body.split(separator: ";") {
                guard let value = try? JSONValue(parsing: String(piece).trimmingWhitespace), let made = call(value) else { return (text, []) }
                found.append(made)
            }
            return found.isEmpty ? (text, []) : ("", found)
        case .generic:
            var body = trimmed
            if body.hasPrefix("```") {
                body = String(body.drop { $0 != "\n" }.dropFirst())
                if body.hasSuffix("```") { body = String(body.dropLast(3)) }
                body = body.trimmingWhitespace
            }
            if let value = try? JSONValue(parsing: body), let made = calls(value) { return ("", made) }
            return (text, [])
        }
    }

    /// The JSON schema an answer must follow for `choice` (nil: none), so that its calls always parse and validate:
    /// - `required`: a JSON list of `{"name": ..., "arguments": {...}}` objects (one when `parallel` is false), each
    ///   name one of the tools and its arguments valid under that tool's schema;
    /// - a named function: that function's arguments object.
    public static func schema(for choice: ToolChoice, tools: [ToolDefinition], parallel: Bool) -> JSONValue? {
        func arguments(_ tool: ToolDefinition) -> JSONValue { tool.parameters ?? ["type": "object"] }
        switch choice {
        case .none, .auto:
            return nil
        case .function(let name):
            return tools.first { $0.name == name }.map(arguments)
        case .required:
            let calls: [JSONValue] = tools.map { tool in
                ["type": "object", "properties": ["name": ["const": .string(tool.name)], "arguments": arguments(tool)],
                 "required": ["name", "arguments"], "additionalProperties": false]
            }
            var list: JSONObject = ["type": "array", "items": ["anyOf": .array(calls)], "minItems": 1]
            if !parallel { list["maxItems"] = 1 }
            return .object(list)
        }
    }

    /// The calls in an answer made under `schema(for:tools:parallel:)`.
    public static func constrainedCalls(in text: String, choice: ToolChoice) -> [(name: String, arguments: String)] {
        guard let value = try? JSONValue(parsing: text) else { return [] }
        switch choice {
        case .function(let name): return value.objectValue == nil ? [] : [(name, value.jsonText)]
        case .required:
            return (value.arrayValue ?? []).compactMap { item in
                guard let name = item["name"]?.stringValue, let arguments = item["arguments"] else { return nil }
                return (name, arguments.jsonText)
            }
        case .none, .auto: return []
        }
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex { !$0.properties.isWhitespace }!
        return String(String.UnicodeScalarView(scalars[first ... last]))
    }
}

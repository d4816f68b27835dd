import Foundation
import SkiffChatTemplate
import SkiffEngine
import SkiffJSON
import SkiffToolCalling

/// The tool fields of a chat completion body (`tools`, `tool_choice`, `parallel_tool_calls`), read from the body's
/// text so that each tool's parameters keep their order (the template prints them; the grammar follows them).
struct ToolFields: Sendable {
    static let names = ["tools", "tool_choice", "parallel_tool_calls"]

    var tools: [ToolDefinition]
    var choice: ToolChoice
    var parallel: Bool

    /// The request's tools (from the body read in document order, `orderedBody`), or nil when it has none (or `tool_choice` is "none": the tools are still shown to the
    /// model, and nothing is read as a call).
    /// - Throws: `APIError` 400 naming the field of a tool, choice or flag that cannot be used.
    static func read(_ object: JSONObject) throws(APIError) -> ToolFields? {
        var tools: [ToolDefinition] = []
        switch object["tools"] {
        case nil, .null?: break
        case .array(let items)?:
            do {
                for (i, item) in items.enumerated() { tools.append(try ToolDefinition(json: item, path: "tools[\(i)]")) }
            } catch {
                throw .invalidRequest(error.message, param: error.param)
            }
            if let name = Dictionary(grouping: tools, by: \.name).first(where: { $0.value.count > 1 })?.key {
                throw .invalidRequest("Two tools are named '\(name)'; function names must be unique.", param: "tools")
            }
        default:
            throw .invalidRequest("'tools' must be a list of {\"type\": \"function\", \"function\": {...}} objects.", param: "tools")
        }
        let parallel: Bool
        switch object["parallel_tool_calls"] {
        case nil, .null?: parallel = true
        case .bool(let flag)?: parallel = flag
        default: throw .invalidRequest("'parallel_tool_calls' must be a boolean.", param: "parallel_tool_calls")
        }
        let choice: ToolChoice
        do {
            choice = try ToolChoice(json: object["tool_choice"], tools: tools)
        } catch {
            throw .invalidRequest(error.message, param: error.param)
        }
        guard !tools.isEmpty else { return nil }
        return ToolFields(tools: tools, choice: choice, parallel: parallel)
    }
}

/// A chat request's tools with the served model's way of writing calls: what turns its answer into `tool_calls`.
struct ToolContext: Sendable {
    var fields: ToolFields
    var format: ToolCallFormat

    /// Whether answers are read for calls at all.
    var readsCalls: Bool { fields.choice != .none }

    /// The calls of a whole answer that ended by itself, and the text beside them (nil: none); nil when it made none.
    func answer(_ text: String, reason: FinishReason) -> (content: String?, calls: [ToolCall])? {
        guard reason == .stop else { return nil }
        let found: [(name: String, arguments: String)]
        var content = ""
        switch fields.choice {
        case .none: return nil
        case .auto: (content, found) = format.parse(text, tools: fields.tools)
        case .required, .function: found = ToolCallFormat.constrainedCalls(in: text, choice: fields.choice)
        }
        let kept = fields.parallel ? found : Array(found.prefix(1))
        guard !kept.isEmpty else { return nil }
        var generator = SystemRandomNumberGenerator()
        return (content.isEmpty ? nil : content,
                kept.map { ToolCall(id: format.newCallID(using: &generator), name: $0.name, arguments: $0.arguments) })
    }

    /// A stream reader for one answer.
    func stream() -> ToolCallStream {
        ToolCallStream(format: format, tools: fields.tools, choice: fields.choice, parallel: fields.parallel)
    }

    /// The messages as the model is shown them. A template that shows tools gets them as they are; for one that does
    /// not (`generic`), a system message describes the tools and the answer's format (unless `tool_choice` is "none"), earlier calls are written into
    /// their assistant turns as that format, and tool results become user turns (templates that check roles, Gemma's
    /// among them, accept no others).
    func prompt(_ messages: [ChatMessage]) -> [ChatMessage] {
        guard !format.templateShowsTools else { return messages }
        let instructions = ToolCallFormat.genericInstructions(for: fields.tools)
        var result: [ChatMessage] = []
        var names: [String: String] = [:]
        for message in messages {
            if !message.toolCalls.isEmpty {
                for call in message.toolCalls { names[call.id] = call.name }
                let calls = message.toolCalls.map { ToolCall(id: $0.id, name: $0.name, arguments: $0.arguments.stringValue ?? $0.arguments.jsonText) }
                let text = format.text(of: calls)
                result.append(ChatMessage(role: message.role, content: message.content.isEmpty ? text : message.content + "\n" + text))
            } else if message.role == "tool" {
                let name = message.toolCallID.flatMap { names[$0] } ?? "the function"
                let line = "Result of \(name): \(message.content)"
                if let last = result.last, last.role == "user", last.content.hasPrefix("Result of ") {
                    result[result.count - 1].content += "\n" + line
                } else {
                    result.append(ChatMessage(role: "user", content: line))
                }
            } else {
                result.append(ChatMessage(role: message.role, content: message.content))
            }
        }
        guard readsCalls else { return result }
        if let first = result.first, first.role == "system" {
            result[0].content += "\n\n" + instructions
        } else {
            result.insert(ChatMessage(role: "system", content: instructions), at: 0)
        }
        return result
    }
}

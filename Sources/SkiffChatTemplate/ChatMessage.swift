import SkiffJSON

/// One turn of a conversation, as the template sees it: `{"role", "content"}`, plus `tool_calls` on an assistant turn
/// that called tools and `tool_call_id` on a tool's result, as Hugging Face templates read them.
///
/// Only text content is carried; image parts are not expressible here.
public struct ChatMessage: Sendable, Equatable {
    /// Who speaks: usually `system`, `user`, `assistant` or `tool`. Not checked here; templates
    /// decide which roles they accept.
    public var role: String
    /// The text of the turn.
    public var content: String
    /// The calls an assistant turn made (empty for other turns).
    public var toolCalls: [ChatToolCall]
    /// For a tool's result, the id of the call it answers.
    public var toolCallID: String?

    /// A message with the given role and text.
    public init(role: String, content: String, toolCalls: [ChatToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    /// The message as the template's `messages` list holds it.
    var templateValue: TemplateValue {
        var members: [(key: String, value: TemplateValue)] = [("role", .string(role)), ("content", .string(content))]
        if !toolCalls.isEmpty {
            members.append(("tool_calls", .array(toolCalls.map { call in
                .object([("id", .string(call.id)), ("type", .string("function")),
                         ("function", .object([("name", .string(call.name)), ("arguments", TemplateValue(call.arguments))]))])
            })))
        }
        if let toolCallID { members.append(("tool_call_id", .string(toolCallID))) }
        return .object(members)
    }
}

/// A call an earlier assistant turn made, as templates read it: `{"id", "type": "function", "function": {"name", "arguments"}}`.
public struct ChatToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The arguments: an object when the call's arguments text is JSON (templates print it with `tojson`, as
    /// transformers and vLLM give it to them), else the text as it was.
    public var arguments: JSONValue

    public init(id: String, name: String, arguments: JSONValue) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

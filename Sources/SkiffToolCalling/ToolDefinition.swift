import SkiffJSON

/// A function the model may call: OpenAI's `{"type": "function", "function": {"name", "description", "parameters"}}`.
public struct ToolDefinition: Sendable, Equatable {
    /// The function's name (letters, digits, `_` and `-`, at most 64, as OpenAI requires).
    public var name: String
    /// What it does, for the model.
    public var description: String?
    /// A JSON schema of its arguments (an object); nil takes any object.
    public var parameters: JSONValue?
    /// The definition as the client sent it (`{"type": "function", "function": {...}}`), members in order: what the
    /// chat template is given as `tools`.
    public var json: JSONValue

    /// Reads one entry of a request's `tools`.
    /// - Throws: `ToolCallError` naming what is wrong (`path` is the entry's place, e.g. `tools[0]`).
    public init(json: JSONValue, path: String) throws(ToolCallError) {
        guard let object = json.objectValue else { throw ToolCallError("'\(path)' must be an object.", param: path) }
        guard object["type"]?.stringValue == "function" else {
            throw ToolCallError("'\(path).type' must be \"function\" (the only kind of tool).", param: "\(path).type")
        }
        guard let function = object["function"]?.objectValue else {
            throw ToolCallError("'\(path).function' must be an object with a 'name'.", param: "\(path).function")
        }
        guard let name = function["name"]?.stringValue, ToolDefinition.isValidName(name) else {
            throw ToolCallError("'\(path).function.name' must be 1 to 64 letters, digits, underscores or dashes.", param: "\(path).function.name")
        }
        if let description = function["description"], description != .null, description.stringValue == nil {
            throw ToolCallError("'\(path).function.description' must be a string.", param: "\(path).function.description")
        }
        if let parameters = function["parameters"], parameters != .null, parameters.objectValue == nil {
            throw ToolCallError("'\(path).function.parameters' must be a JSON schema (an object).", param: "\(path).function.parameters")
        }
        self.name = name
        description = function["description"]?.stringValue
        parameters = function["parameters"].flatMap { $0 == .null ? nil : $0 }
        self.json = json
    }

    /// A definition made in code.
    public init(name: String, description: String? = nil, parameters: JSONValue? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
        var function = JSONObject([("name", .string(name))])
        if let description { function["description"] = .string(description) }
        if let parameters { function["parameters"] = parameters }
        json = ["type": "function", "function": .object(function)]
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.unicodeScalars.allSatisfy { ("a" ... "z").contains($0) || ("A" ... "Z").contains($0) || ("0" ... "9").contains($0) || $0 == "_" || $0 == "-" }
    }
}

/// Which tool calls a request allows: OpenAI's `tool_choice`.
public enum ToolChoice: Sendable, Equatable {
    /// No call: the model answers in text (the tools are still shown to it).
    case none
    /// The model decides: its text is searched for calls in its family's format.
    case auto
    /// At least one call, of any tool, made under a grammar of the tools' argument schemas.
    case required
    /// One call of this function, its arguments made under the grammar of its parameter schema.
    case function(String)

    /// Reads `tool_choice` (nil: `auto` with tools, else `none`).
    /// - Throws: `ToolCallError` for an unknown value, or a function not among `tools`.
    public init(json: JSONValue?, tools: [ToolDefinition]) throws(ToolCallError) {
        switch json {
        case nil, .null?: self = tools.isEmpty ? .none : .auto
        case .string("none")?: self = .none
        case .string("auto")?: self = .auto
        case .string("required")?: self = .required
        case .object(let object)?:
            guard object["type"]?.stringValue == "function", let name = object["function"]?["name"]?.stringValue else {
                throw ToolCallError("'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}.",
                                    param: "tool_choice")
            }
            self = .function(name)
        default:
            throw ToolCallError("'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}.",
                                param: "tool_choice")
        }
        switch self {
        case .required where tools.isEmpty, .auto where tools.isEmpty:
            throw ToolCallError("'tool_choice' asks for tool calls but the request has no tools; send tools, or tool_choice \"none\".", param: "tool_choice")
        case .function(let name) where !tools.contains(where: { $0.name == name }):
            throw ToolCallError("'tool_choice' names the function '\(name)', which is not among the request's tools.", param: "tool_choice")
        default: break
        }
    }
}

/// A request's tools that cannot be used, in words a client can act on, with the field to name.
public struct ToolCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var param: String

    public init(_ message: String, param: String) {
        self.message = message
        self.param = param
    }

    public var description: String { message }
}

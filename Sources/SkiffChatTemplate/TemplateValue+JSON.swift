import SkiffJSON

extension TemplateValue {
    /// Reads JSON text, e.g. an OpenAI-style `tools` array, keeping object keys in document
    /// order (templates print them in order). Integers that fit in `Int` become `.int`, other
    /// numbers `.double`. Throws `.invalidJSON` with line/column for malformed text, and for
    /// arrays and objects nested more than 128 deep.
    public init(json: String) throws(ChatTemplateError) {
        do {
            self = TemplateValue(try JSONValue(parsing: json))
        } catch {
            throw ChatTemplateError(.invalidJSON, error.message, at: SourceLocation(line: error.line, column: error.column))
        }
    }

    /// A JSON value as the template sees it (`null` is `none`), members in order.
    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let value): self = .bool(value)
        case .int(let value): self = .int(value)
        case .double(let value): self = .double(value)
        case .string(let value): self = .string(value)
        case .array(let items): self = .array(items.map(TemplateValue.init))
        case .object(let object): self = .object(object.map { ($0.key, TemplateValue($0.value)) })
        }
    }
}

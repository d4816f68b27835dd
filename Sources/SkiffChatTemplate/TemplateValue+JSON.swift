extension TemplateValue {
    /// Reads JSON text, e.g. an OpenAI-style `tools` array, keeping object keys in document
    /// order (templates print them in order). Integers that fit in `Int` become `.int`, other
    /// numbers `.double`. Throws `.invalidJSON` with line/column for malformed text, and for
    /// arrays and objects nested more than 128 deep.
    public init(json: String) throws(ChatTemplateError) {
        self = try JSONParser.parse(json)
    }
}

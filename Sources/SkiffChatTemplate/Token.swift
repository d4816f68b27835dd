/// One lexical unit of a template: literal text, a tag delimiter, or a piece of an expression.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        /// Literal template text, after whitespace control.
        case text(String)
        /// `{{`
        case variableBegin
        /// `}}`
        case variableEnd
        /// `{%`
        case blockBegin
        /// `%}`
        case blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// An operator or punctuation, e.g. `+`, `//`, `==`, `(`, `|`.
        case symbol(String)
        case endOfInput
    }

    var kind: Kind
    var location: SourceLocation

    /// How the token reads in an error message.
    var description: String {
        switch kind {
        case .text: return "template text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let name): return "'\(name)'"
        case .string(let value): return "string \(value.pythonRepr)"
        case .integer(let value): return "'\(value)'"
        case .float(let value): return "'\(pythonFloatRepr(value))'"
        case .symbol(let symbol): return "'\(symbol)'"
        case .endOfInput: return "end of template"
        }
    }
}

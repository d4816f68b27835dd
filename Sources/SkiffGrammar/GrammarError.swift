/// Why a grammar, schema or pattern cannot be used to constrain generation, in words a client can act on.
public struct GrammarError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is.
    public enum Code: Sendable, Equatable {
        /// GBNF text that does not parse, or names a rule it never defines.
        case invalidGrammar
        /// A grammar no automaton can run: left recursion, or too large.
        case unusableGrammar
        /// A JSON schema that is not valid JSON Schema (a keyword of the wrong type, a `$ref` to nowhere).
        case invalidSchema
        /// A valid JSON schema using a keyword (or keyword value) Skiff does not enforce; `keyword` names it.
        case unsupportedSchema
        /// A regular expression that does not parse, or uses a feature Skiff does not enforce.
        case invalidRegex
    }

    /// What kind of problem it is.
    public var code: Code
    /// The problem and what to change.
    public var message: String
    /// The JSON Schema keyword refused (for `.unsupportedSchema`), else nil.
    public var keyword: String?

    /// A problem of kind `code`.
    public init(_ code: Code, _ message: String, keyword: String? = nil) {
        self.code = code
        self.message = message
        self.keyword = keyword
    }

    public var description: String { message }
}

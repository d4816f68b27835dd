/// A node of the template body: text, `{{ }}` output, or a `{% %}` statement with its body.
struct Statement: Sendable {
    indirect enum Kind: Sendable {
        case text(String)
        /// `{{ expression }}`
        case output(Expression)
        /// `{% if %}` with its `elif` branches and optional `else`.
        case conditional(branches: [(test: Expression, body: [Statement])], otherwise: [Statement])
        case forLoop(ForLoop)
        /// `{% set target = value %}`
        case set(AssignTarget, Expression)
        /// `{% set target | filters %}body{% endset %}`
        case setBlock(AssignTarget, filters: [FilterApplication], body: [Statement])
        case macro(MacroDefinition)
        /// `{% call(parameters) macro(arguments) %}body{% endcall %}`
        case callBlock(call: Expression, caller: MacroDefinition)
        /// `{% filter name %}body{% endfilter %}`
        case filterBlock(filters: [FilterApplication], body: [Statement])
        case breakLoop
        case continueLoop
    }

    let kind: Kind
    let location: SourceLocation
}

/// What `set` and `for` assign to.
enum AssignTarget: Sendable {
    case name(String)
    /// `a, b` — unpacks a sequence.
    case names([String])
    /// `ns.attribute` — sets an attribute of a namespace.
    case namespaceAttribute(namespace: String, attribute: String)
}

struct ForLoop: Sendable {
    var target: AssignTarget
    var iterable: Expression
    /// The inline `if` filter: items for which it is false are skipped and not counted by `loop`.
    var condition: Expression?
    var body: [Statement]
    /// Rendered when no item was iterated.
    var otherwise: [Statement]
}

/// A filter named in a `{% filter %}` or block `set` tag, with its arguments.
struct FilterApplication: Sendable {
    var name: String
    var arguments: Arguments
    var location: SourceLocation
}

struct MacroDefinition: Sendable {
    var name: String
    var parameters: [(name: String, defaultValue: Expression?)]
    var body: [Statement]
    /// Whether the body reads `varargs`/`kwargs`; Jinja only accepts extra arguments then.
    var acceptsExtraPositional: Bool
    var acceptsExtraKeywords: Bool
}

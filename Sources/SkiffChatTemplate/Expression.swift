/// An expression node of the template's syntax tree, with its place in the source and its
/// depth (the parser refuses trees deeper than a limit, so evaluating one cannot overflow the stack).
struct Expression: Sendable {
    indirect enum Kind: Sendable {
        /// `none`, `true`, `42`, `1.5`, `'text'`.
        case literal(Value)
        case name(String)
        case list([Expression])
        /// `(a, b)` or a bare `a, b`; evaluates to a list.
        case tuple([Expression])
        case dict([(key: Expression, value: Expression)])
        case negate(Expression)
        case plus(Expression)
        case not(Expression)
        case binary(BinaryOperator, Expression, Expression)
        case and(Expression, Expression)
        case or(Expression, Expression)
        /// A comparison chain such as `a < b <= c`.
        case compare(Expression, [(CompareOperator, Expression)])
        /// `value if test else otherwise`; without `else`, an undefined value when `test` fails.
        case conditional(test: Expression, value: Expression, otherwise: Expression?)
        /// `object.name`
        case attribute(Expression, String)
        /// `object[key]`
        case item(Expression, Expression)
        /// `object[start:stop:step]`
        case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
        case call(Expression, Arguments)
        /// `value | name(arguments)`
        case filter(Expression, name: String, Arguments)
        /// `value is [not] name(arguments)`
        case test(Expression, name: String, Arguments, negated: Bool)
    }

    let kind: Kind
    let location: SourceLocation
    let depth: Int

    init(_ kind: Kind, at location: SourceLocation, children: [Expression] = []) {
        self.kind = kind
        self.location = location
        self.depth = 1 + (children.map(\.depth).max() ?? 0)
    }

    /// The direct subexpressions.
    var children: [Expression] {
        switch kind {
        case .literal, .name: return []
        case .list(let items), .tuple(let items): return items
        case .dict(let entries): return entries.flatMap { [$0.key, $0.value] }
        case .negate(let operand), .plus(let operand), .not(let operand), .attribute(let operand, _): return [operand]
        case .binary(_, let left, let right), .and(let left, let right), .or(let left, let right),
            .item(let left, let right):
            return [left, right]
        case .compare(let first, let rest): return [first] + rest.map(\.1)
        case .conditional(let test, let value, let otherwise): return [test, value] + (otherwise.map { [$0] } ?? [])
        case .slice(let object, let start, let stop, let step): return [object] + [start, stop, step].compactMap { $0 }
        case .call(let callee, let arguments): return [callee] + arguments.expressions
        case .filter(let value, _, let arguments), .test(let value, _, let arguments, _): return [value] + arguments.expressions
        }
    }
}

/// Call arguments: positional, then `name=value` keywords.
struct Arguments: Sendable {
    var positional: [Expression] = []
    var keyword: [(name: String, value: Expression)] = []

    var expressions: [Expression] { positional + keyword.map(\.value) }
}

enum BinaryOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case floorDivide = "//"
    case modulo = "%"
    case power = "**"
    case concatenate = "~"
}

enum CompareOperator: String, Sendable {
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case `in` = "in"
    case notIn = "not in"
}

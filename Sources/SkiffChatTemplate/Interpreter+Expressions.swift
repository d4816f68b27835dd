/// Expression evaluation.
///
/// Evaluation recurses once per level of the expression tree (and through macro calls), so the
/// functions on that path keep their stack frames small: each kind of node is handled in its own
/// function, kept out of line so its locals do not add to every level of the recursion.
extension Interpreter {
    mutating func evaluate(_ expression: Expression) throws(ChatTemplateError) -> Value {
        try enterRecursion()
        defer { leaveRecursion() }
        do {
            return try evaluateKind(expression.kind)
        } catch {
            throw error.located(at: expression.location)
        }
    }

    mutating func evaluate(_ arguments: Arguments) throws(ChatTemplateError) -> CallArguments {
        var result = CallArguments()
        for expression in arguments.positional { result.positional.append(try evaluate(expression)) }
        for (name, expression) in arguments.keyword { result.keyword.append((name, try evaluate(expression))) }
        return result
    }

    private mutating func evaluateKind(_ kind: Expression.Kind) throws(ChatTemplateError) -> Value {
        switch kind {
        case .literal(let value): return value
        case .name(let name): return lookup(name)
        case .list(let items), .tuple(let items): return try evaluateList(items)
        case .dict(let entries): return try evaluateDict(entries)
        case .negate(let operand): return try evaluateNegation(operand)
        case .plus(let operand): return try evaluatePlus(operand)
        case .not(let operand): return try evaluateNot(operand)
        case .binary(let op, let left, let right): return try evaluateBinary(op, left, right)
        case .and(let left, let right): return try evaluateLogic(left, right, isAnd: true)
        case .or(let left, let right): return try evaluateLogic(left, right, isAnd: false)
        case .compare(let first, let operations): return try evaluateComparison(first, operations)
        case .conditional(let test, let value, let otherwise): return try evaluateConditional(test, value, otherwise)
        case .attribute(let object, let name): return try evaluateAttribute(object, name)
        case .item(let object, let key): return try evaluateItem(object, key)
        case .slice(let object, let start, let stop, let step): return try evaluateSlice(object, start, stop, step)
        case .call(let callee, let arguments): return try evaluateCall(callee, arguments)
        case .filter(let value, let name, let arguments): return try evaluateFilter(value, name, arguments)
        case .test(let value, let name, let arguments, let negated):
            return try evaluateTest(value, name, arguments, negated: negated)
        }
    }

    @inline(never)
    private mutating func evaluateList(_ items: [Expression]) throws(ChatTemplateError) -> Value {
        var values: [Value] = []
        for item in items { values.append(try evaluate(item)) }
        return .list(values)
    }

    @inline(never)
    private mutating func evaluateDict(_ entries: [(key: Expression, value: Expression)]) throws(ChatTemplateError) -> Value {
        var dict = Dict()
        for entry in entries {
            let key = try evaluate(entry.key)
            guard let dictKey = DictKey(key) else {
                throw ChatTemplateError(
                    .unsupportedFeature, "dictionary keys must be strings or integers here, got '\(key.typeName)'",
                    at: entry.key.location)
            }
            dict[dictKey] = try evaluate(entry.value)
        }
        return .dict(dict)
    }

    @inline(never)
    private mutating func evaluateNegation(_ operand: Expression) throws(ChatTemplateError) -> Value {
        try negate(try evaluate(operand))
    }

    @inline(never)
    private mutating func evaluatePlus(_ operand: Expression) throws(ChatTemplateError) -> Value {
        let value = try evaluate(operand)
        guard value.numericValue != nil else { throw unaryTypeError("+", value) }
        return value
    }

    @inline(never)
    private mutating func evaluateNot(_ operand: Expression) throws(ChatTemplateError) -> Value {
        .bool(!(try evaluate(operand)).isTruthy)
    }

    @inline(never)
    private mutating func evaluateBinary(
        _ op: BinaryOperator, _ left: Expression, _ right: Expression
    ) throws(ChatTemplateError) -> Value {
        let leftValue = try evaluate(left)
        return try applyBinary(op, leftValue, try evaluate(right))
    }

    /// Python's `and`/`or`, which return one of their operands.
    @inline(never)
    private mutating func evaluateLogic(_ left: Expression, _ right: Expression, isAnd: Bool) throws(ChatTemplateError) -> Value {
        let value = try evaluate(left)
        return value.isTruthy == isAnd ? try evaluate(right) : value
    }

    /// A comparison chain: `a < b < c` is `a < b and b < c`, evaluating `b` once.
    @inline(never)
    private mutating func evaluateComparison(
        _ first: Expression, _ operations: [(CompareOperator, Expression)]
    ) throws(ChatTemplateError) -> Value {
        var left = try evaluate(first)
        for (op, expression) in operations {
            let right = try evaluate(expression)
            if !(try compare(op, left, right)) { return .bool(false) }
            left = right
        }
        return .bool(true)
    }

    @inline(never)
    private mutating func evaluateConditional(
        _ test: Expression, _ value: Expression, _ otherwise: Expression?
    ) throws(ChatTemplateError) -> Value {
        if try evaluate(test).isTruthy { return try evaluate(value) }
        if let otherwise { return try evaluate(otherwise) }
        return .undefined(Undefined(reason: "the inline if-expression evaluated to false and has no else part"))
    }

    @inline(never)
    private mutating func evaluateAttribute(_ object: Expression, _ name: String) throws(ChatTemplateError) -> Value {
        try attribute(name, of: try evaluate(object))
    }

    @inline(never)
    private mutating func evaluateItem(_ object: Expression, _ key: Expression) throws(ChatTemplateError) -> Value {
        let container = try evaluate(object)
        return try item(try evaluate(key), of: container)
    }

    @inline(never)
    private mutating func evaluateSlice(
        _ object: Expression, _ start: Expression?, _ stop: Expression?, _ step: Expression?
    ) throws(ChatTemplateError) -> Value {
        let value = try evaluate(object)
        var bounds: [Value?] = []
        for bound in [start, stop, step] {
            if let bound { bounds.append(try evaluate(bound)) } else { bounds.append(nil) }
        }
        return try slice(value, start: bounds[0], stop: bounds[1], step: bounds[2])
    }

    @inline(never)
    private mutating func evaluateCall(_ callee: Expression, _ arguments: Arguments) throws(ChatTemplateError) -> Value {
        let function = try evaluate(callee)
        return try call(function, try evaluate(arguments))
    }

    @inline(never)
    private mutating func evaluateFilter(_ value: Expression, _ name: String, _ arguments: Arguments) throws(ChatTemplateError) -> Value {
        let subject = try evaluate(value)
        return try applyFilter(name, to: subject, try evaluate(arguments))
    }

    @inline(never)
    private mutating func evaluateTest(
        _ value: Expression, _ name: String, _ arguments: Arguments, negated: Bool
    ) throws(ChatTemplateError) -> Value {
        let subject = try evaluate(value)
        return .bool(try applyTest(name, to: subject, try evaluate(arguments)) != negated)
    }
}

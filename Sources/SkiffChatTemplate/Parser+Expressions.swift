/// Expression parsing, following Jinja's grammar and precedence:
/// conditional < `or` < `and` < `not` < comparisons/`in` < `+ -` < `~` < `* / // %` < `**`
/// < unary `- +` < postfix (`.name`, `[key]`, calls) with filters and `is` tests.
extension Parser {
    /// An expression, or a tuple when commas separate several (`{{ a, b }}`, `{% set x = 1, 2 %}`).
    mutating func parseTuple(
        allowConditional: Bool = true, extraEnd: Set<String> = [], parenthesized: Bool = false
    ) throws(ChatTemplateError) -> Expression {
        let location = current.location
        var items: [Expression] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectSymbol(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(allowConditional ? try parseExpression() : try parseOr())
            if isSymbol(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !parenthesized { throw unexpected(expecting: "an expression") }
        }
        return try make(.tuple(items), at: location, children: items)
    }

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .endOfInput: return true
        case .symbol(")"): return true
        case .name(let name): return extraEnd.contains(name)
        default: return false
        }
    }

    /// A full expression, including `a if b else c`.
    mutating func parseExpression() throws(ChatTemplateError) -> Expression {
        expressionNesting += 1
        defer { expressionNesting -= 1 }
        guard expressionNesting <= Parser.maxExpressionNesting else {
            throw ChatTemplateError(
                .limitExceeded, "expression is nested more than \(Parser.maxExpressionNesting) deep", at: current.location)
        }
        var expression = try parseOr()
        while isName("if") {
            let location = current.location
            advance()
            let test = try parseOr()
            let otherwise = skipName("else") ? try parseExpression() : nil
            expression = try make(
                .conditional(test: test, value: expression, otherwise: otherwise), at: location,
                children: [test, expression] + (otherwise.map { [$0] } ?? []))
        }
        return expression
    }

    mutating func parseOr() throws(ChatTemplateError) -> Expression {
        var left = try parseAnd()
        while isName("or") {
            let location = current.location
            advance()
            let right = try parseAnd()
            left = try make(.or(left, right), at: location, children: [left, right])
        }
        return left
    }

    private mutating func parseAnd() throws(ChatTemplateError) -> Expression {
        var left = try parseNot()
        while isName("and") {
            let location = current.location
            advance()
            let right = try parseNot()
            left = try make(.and(left, right), at: location, children: [left, right])
        }
        return left
    }

    private mutating func parseNot() throws(ChatTemplateError) -> Expression {
        guard isName("not") else { return try parseCompare() }
        let location = current.location
        advance()
        try enterNesting()
        defer { expressionNesting -= 1 }
        let operand = try parseNot()
        return try make(.not(operand), at: location, children: [operand])
    }

    private mutating func parseCompare() throws(ChatTemplateError) -> Expression {
        let location = current.location
        let first = try parseAdditive()
        var operations: [(CompareOperator, Expression)] = []
        while true {
            let op: CompareOperator
            if case .symbol(let symbol) = current.kind, let comparison = CompareOperator(rawValue: symbol),
                comparison != .in, comparison != .notIn
            {
                op = comparison
                advance()
            } else if isName("in") {
                op = .in
                advance()
            } else if isName("not"), next.kind == .name("in") {
                op = .notIn
                advance()
                advance()
            } else {
                break
            }
            operations.append((op, try parseAdditive()))
        }
        if operations.isEmpty { return first }
        return try make(.compare(first, operations), at: location, children: [first] + operations.map(\.1))
    }

    private mutating func parseAdditive() throws(ChatTemplateError) -> Expression {
        var left = try parseConcatenation()
        while case .symbol(let symbol) = current.kind, symbol == "+" || symbol == "-" {
            let location = current.location
            advance()
            let right = try parseConcatenation()
            left = try make(.binary(symbol == "+" ? .add : .subtract, left, right), at: location, children: [left, right])
        }
        return left
    }

    private mutating func parseConcatenation() throws(ChatTemplateError) -> Expression {
        var left = try parseMultiplicative()
        while isSymbol("~") {
            let location = current.location
            advance()
            let right = try parseMultiplicative()
            left = try make(.binary(.concatenate, left, right), at: location, children: [left, right])
        }
        return left
    }

    private mutating func parseMultiplicative() throws(ChatTemplateError) -> Expression {
        var left = try parsePower()
        while case .symbol(let symbol) = current.kind, ["*", "/", "//", "%"].contains(symbol),
            let op = BinaryOperator(rawValue: symbol)
        {
            let location = current.location
            advance()
            let right = try parsePower()
            left = try make(.binary(op, left, right), at: location, children: [left, right])
        }
        return left
    }

    /// `**` is left-associative in Jinja: `2 ** 3 ** 2` is 64.
    private mutating func parsePower() throws(ChatTemplateError) -> Expression {
        var left = try parseUnary(withFilters: true)
        while isSymbol("**") {
            let location = current.location
            advance()
            let right = try parseUnary(withFilters: true)
            left = try make(.binary(.power, left, right), at: location, children: [left, right])
        }
        return left
    }

    /// Unary `-`/`+` bind tighter than binary operators but looser than filters of their
    /// operand's postfix chain: `-x|abs` is `abs(-x)`.
    private mutating func parseUnary(withFilters: Bool) throws(ChatTemplateError) -> Expression {
        let location = current.location
        var expression: Expression
        if isSymbol("-") || isSymbol("+") {
            let negate = isSymbol("-")
            advance()
            try enterNesting()
            let operand = try parseUnary(withFilters: false)
            expressionNesting -= 1
            expression = try make(negate ? .negate(operand) : .plus(operand), at: location, children: [operand])
        } else {
            expression = try parsePrimary()
        }
        expression = try parsePostfix(expression)
        if withFilters { expression = try parseFilterChain(expression) }
        return expression
    }

    private mutating func parsePrimary() throws(ChatTemplateError) -> Expression {
        let token = current
        switch token.kind {
        case .name(let name):
            advance()
            switch name {
            case "true", "True": return try make(.literal(.bool(true)), at: token.location)
            case "false", "False": return try make(.literal(.bool(false)), at: token.location)
            case "none", "None": return try make(.literal(.none), at: token.location)
            default:
                for level in namesReadInMacros.indices { namesReadInMacros[level].insert(name) }
                return try make(.name(name), at: token.location)
            }
        case .string(var text):
            advance()
            while case .string(let more) = current.kind {
                text += more
                advance()
            }
            return try make(.literal(.string(text)), at: token.location)
        case .integer(let value):
            advance()
            return try make(.literal(.int(value)), at: token.location)
        case .float(let value):
            advance()
            return try make(.literal(.double(value)), at: token.location)
        case .symbol("("):
            advance()
            let inner = try parseTuple(parenthesized: true)
            try expectSymbol(")")
            return inner
        case .symbol("["):
            return try parseList()
        case .symbol("{"):
            return try parseDict()
        default:
            throw unexpected(expecting: "an expression")
        }
    }

    private mutating func parseList() throws(ChatTemplateError) -> Expression {
        let location = current.location
        try expectSymbol("[")
        var items: [Expression] = []
        while !isSymbol("]") {
            if !items.isEmpty { try expectSymbol(",") }
            if isSymbol("]") { break }
            items.append(try parseExpression())
        }
        try expectSymbol("]")
        return try make(.list(items), at: location, children: items)
    }

    private mutating func parseDict() throws(ChatTemplateError) -> Expression {
        let location = current.location
        try expectSymbol("{")
        var entries: [(key: Expression, value: Expression)] = []
        while !isSymbol("}") {
            if !entries.isEmpty { try expectSymbol(",") }
            if isSymbol("}") { break }
            let key = try parseExpression()
            try expectSymbol(":")
            entries.append((key, try parseExpression()))
        }
        try expectSymbol("}")
        return try make(.dict(entries), at: location, children: entries.flatMap { [$0.key, $0.value] })
    }

    /// Attribute access, subscripts and calls. Their nodes take the location of the start of the
    /// operand, so errors point at the whole `a.b.c` rather than at a dot.
    private mutating func parsePostfix(_ base: Expression) throws(ChatTemplateError) -> Expression {
        var expression = base
        while true {
            let location = base.location
            if skipSymbol(".") {
                switch current.kind {
                case .name(let name):
                    advance()
                    expression = try make(.attribute(expression, name), at: location, children: [expression])
                case .integer(let value):
                    advance()
                    let key = try make(.literal(.int(value)), at: location)
                    expression = try make(.item(expression, key), at: location, children: [expression])
                default:
                    throw unexpected(expecting: "an attribute name after '.'")
                }
            } else if isSymbol("[") {
                expression = try parseSubscript(expression)
            } else if isSymbol("(") {
                expression = try parseCall(expression)
            } else {
                return expression
            }
        }
    }

    private mutating func parseSubscript(_ base: Expression) throws(ChatTemplateError) -> Expression {
        let location = base.location
        try expectSymbol("[")
        try enterNesting()
        defer { expressionNesting -= 1 }
        var start: Expression?
        if !isSymbol(":") {
            let key = try parseExpression()
            if !isSymbol(":") {
                try expectSymbol("]")
                return try make(.item(base, key), at: location, children: [base, key])
            }
            start = key
        }
        try expectSymbol(":")
        let stop = isSymbol("]") || isSymbol(":") ? nil : try parseExpression()
        var step: Expression?
        if skipSymbol(":"), !isSymbol("]") { step = try parseExpression() }
        try expectSymbol("]")
        let children = [base] + [start, stop, step].compactMap { $0 }
        return try make(.slice(base, start: start, stop: stop, step: step), at: location, children: children)
    }

    private mutating func parseCall(_ callee: Expression) throws(ChatTemplateError) -> Expression {
        let location = callee.location
        let arguments = try parseCallArguments()
        return try make(.call(callee, arguments), at: location, children: [callee] + arguments.expressions)
    }

    /// `(a, b, name=c)`.
    mutating func parseCallArguments() throws(ChatTemplateError) -> Arguments {
        try expectSymbol("(")
        try enterNesting()
        defer { expressionNesting -= 1 }
        var arguments = Arguments()
        var first = true
        while !isSymbol(")") {
            if !first { try expectSymbol(",") }
            first = false
            if isSymbol(")") { break }
            if isSymbol("*") || isSymbol("**") {
                throw ChatTemplateError(.unsupportedFeature, "*args and **kwargs in calls are not supported", at: current.location)
            }
            if case .name(let name) = current.kind, next.kind == .symbol("=") {
                advance()
                advance()
                arguments.keyword.append((name, try parseExpression()))
            } else {
                guard arguments.keyword.isEmpty else {
                    throw ChatTemplateError(.syntax, "positional argument follows keyword argument", at: current.location)
                }
                arguments.positional.append(try parseExpression())
            }
        }
        try expectSymbol(")")
        return arguments
    }

    /// Filters (`| name(args)`), tests (`is [not] name args`) and calls after an operand.
    private mutating func parseFilterChain(_ base: Expression) throws(ChatTemplateError) -> Expression {
        var expression = base
        while true {
            if skipSymbol("|") {
                let location = current.location
                let name = try parseFilterName()
                let arguments = isSymbol("(") ? try parseCallArguments() : Arguments()
                expression = try make(
                    .filter(expression, name: name, arguments), at: location,
                    children: [expression] + arguments.expressions)
            } else if isName("is") {
                expression = try parseTest(expression)
            } else if isSymbol("(") {
                expression = try parseCall(expression)
            } else {
                return expression
            }
        }
    }

    /// A filter name (dotted names allowed). Unknown names are reported by `NameCheck`, which
    /// knows whether the filter sits in a conditional part of the template.
    mutating func parseFilterName() throws(ChatTemplateError) -> String {
        var name = try expectName()
        while skipSymbol(".") { name += "." + (try expectName()) }
        return name
    }

    private mutating func parseTest(_ subject: Expression) throws(ChatTemplateError) -> Expression {
        advance()
        let negated = skipName("not")
        let location = current.location
        var name = try expectName()
        while skipSymbol(".") { name += "." + (try expectName()) }
        var arguments = Arguments()
        if isSymbol("(") {
            arguments = try parseCallArguments()
        } else if startsTestArgument {
            if isName("is") { throw ChatTemplateError(.syntax, "tests cannot be chained with 'is'", at: current.location) }
            arguments.positional = [try parsePostfix(try parsePrimary())]
        }
        return try make(
            .test(subject, name: name, arguments, negated: negated), at: location,
            children: [subject] + arguments.expressions)
    }

    /// Whether the token after a test name is its single unparenthesized argument (`is divisibleby 3`).
    private var startsTestArgument: Bool {
        switch current.kind {
        case .name(let name): return !["else", "or", "and"].contains(name)
        case .string, .integer, .float, .symbol("["), .symbol("{"): return true
        default: return false
        }
    }

    mutating func enterNesting() throws(ChatTemplateError) {
        expressionNesting += 1
        guard expressionNesting <= Parser.maxExpressionNesting else {
            throw ChatTemplateError(
                .limitExceeded, "expression is nested more than \(Parser.maxExpressionNesting) deep", at: current.location)
        }
    }

    func make(_ kind: Expression.Kind, at location: SourceLocation, children: [Expression] = []) throws(ChatTemplateError) -> Expression {
        let expression = Expression(kind, at: location, children: children)
        guard expression.depth <= Parser.maxExpressionDepth else {
            throw ChatTemplateError(
                .limitExceeded, "expression is more than \(Parser.maxExpressionDepth) operations deep", at: location)
        }
        return expression
    }
}

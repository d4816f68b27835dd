/// Builds the syntax tree from tokens: the template body and its `{% %}` statements.
/// Expressions are parsed in `Parser+Expressions.swift`.
struct Parser {
    /// How deep statements may nest (`for` in `if` in `macro` ...).
    static let maxStatementNesting = 64
    /// How deep expression syntax may nest (parentheses, lists, unary operators).
    static let maxExpressionNesting = 64
    /// How deep an expression tree may be, counting chains of operators and filters.
    static let maxExpressionDepth = 128

    private let tokens: [Token]
    private var index = 0
    private var statementNesting = 0
    var expressionNesting = 0
    /// How many `for` bodies enclose the current point (reset inside macro bodies).
    private var loopDepth = 0
    /// Names read inside each macro body being parsed, to know whether it takes `varargs`/`kwargs`.
    var namesReadInMacros: [Set<String>] = []

    static func parse(_ source: String) throws(ChatTemplateError) -> [Statement] {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        let (body, _) = try parser.parseBody(until: [])
        try NameCheck.check(body)
        return body
    }

    private init(tokens: [Token]) {
        self.tokens = tokens
    }

    // MARK: - Token stream

    var current: Token { tokens[min(index, tokens.count - 1)] }

    var next: Token { tokens[min(index + 1, tokens.count - 1)] }

    mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }

    func isSymbol(_ symbol: String) -> Bool {
        current.kind == .symbol(symbol)
    }

    func isName(_ name: String) -> Bool {
        current.kind == .name(name)
    }

    mutating func skipSymbol(_ symbol: String) -> Bool {
        guard isSymbol(symbol) else { return false }
        advance()
        return true
    }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        advance()
        return true
    }

    mutating func expectSymbol(_ symbol: String) throws(ChatTemplateError) {
        guard skipSymbol(symbol) else { throw unexpected(expecting: "'\(symbol)'") }
    }

    mutating func expectName() throws(ChatTemplateError) -> String {
        guard case .name(let name) = current.kind else { throw unexpected(expecting: "a name") }
        advance()
        return name
    }

    private mutating func expectBlockEnd() throws(ChatTemplateError) {
        guard current.kind == .blockEnd else { throw unexpected(expecting: "end of tag '%}'") }
        advance()
    }

    func unexpected(expecting expected: String) -> ChatTemplateError {
        ChatTemplateError(.syntax, "expected \(expected), found \(current.description)", at: current.location)
    }

    // MARK: - Body

    /// Parses statements until a `{% tag %}` named in `endTags`; returns them and that tag's name
    /// (the tag's name is consumed, its arguments and `%}` are not). Without end tags, parses to
    /// the end of the template.
    private mutating func parseBody(until endTags: Set<String>) throws(ChatTemplateError) -> ([Statement], String?) {
        statementNesting += 1
        defer { statementNesting -= 1 }
        guard statementNesting <= Parser.maxStatementNesting else {
            throw ChatTemplateError(
                .limitExceeded, "statements are nested more than \(Parser.maxStatementNesting) deep", at: current.location)
        }
        var body: [Statement] = []
        while true {
            let token = current
            switch token.kind {
            case .text(let text):
                advance()
                body.append(Statement(kind: .text(text), location: token.location))
            case .variableBegin:
                advance()
                let expression = try parseTuple()
                guard current.kind == .variableEnd else { throw unexpected(expecting: "end of output tag '}}'") }
                advance()
                body.append(Statement(kind: .output(expression), location: token.location))
            case .blockBegin:
                advance()
                if case .name(let name) = current.kind, endTags.contains(name) {
                    advance()
                    return (body, name)
                }
                body.append(contentsOf: try parseStatement(openedAt: token.location))
            case .endOfInput:
                guard endTags.isEmpty else {
                    let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw ChatTemplateError(
                        .syntax, "unexpected end of template, expected \(expected)", at: token.location)
                }
                return (body, nil)
            default:
                throw unexpected(expecting: "template text or a tag")
            }
        }
    }

    /// Parses the body up to one of `endTags` followed by `%}`; returns the body and the tag.
    private mutating func parseBlockBody(until endTags: Set<String>) throws(ChatTemplateError) -> ([Statement], String) {
        let (body, tag) = try parseBody(until: endTags)
        return (body, tag ?? "")
    }

    /// Parses one statement after `{%` (several for `{% generation %}`, whose body is inlined).
    private mutating func parseStatement(openedAt location: SourceLocation) throws(ChatTemplateError) -> [Statement] {
        let nameToken = current
        let tag = try expectName()
        let kind: Statement.Kind
        switch tag {
        case "for": kind = try parseFor()
        case "if": kind = try parseIf()
        case "set": kind = try parseSet()
        case "macro": kind = try parseMacro()
        case "call": kind = try parseCallBlock()
        case "filter": kind = try parseFilterBlock()
        case "break", "continue":
            guard loopDepth > 0 else {
                throw ChatTemplateError(.syntax, "'\(tag)' is only allowed inside a for loop", at: nameToken.location)
            }
            try expectBlockEnd()
            kind = tag == "break" ? .breakLoop : .continueLoop
        case "generation":
            // transformers' `{% generation %}` marks assistant text for masks; it renders its body.
            try expectBlockEnd()
            let (body, _) = try parseBlockBody(until: ["endgeneration"])
            try expectBlockEnd()
            return body
        default:
            throw ChatTemplateError(.syntax, "unknown tag '\(tag)'", at: nameToken.location)
        }
        return [Statement(kind: kind, location: location)]
    }

    private mutating func parseFor() throws(ChatTemplateError) -> Statement.Kind {
        let target = try parseAssignTarget(allowNamespace: false)
        guard skipName("in") else { throw unexpected(expecting: "'in'") }
        let iterable = try parseTuple(allowConditional: false, extraEnd: ["recursive"])
        var condition: Expression?
        if skipName("if") { condition = try parseExpression() }
        if isName("recursive") {
            throw ChatTemplateError(.unsupportedFeature, "recursive for loops are not supported", at: current.location)
        }
        try expectBlockEnd()
        loopDepth += 1
        let (body, tag) = try parseBlockBody(until: ["endfor", "else"])
        loopDepth -= 1
        var otherwise: [Statement] = []
        if tag == "else" {
            try expectBlockEnd()
            otherwise = try parseBlockBody(until: ["endfor"]).0
        }
        try expectBlockEnd()
        return .forLoop(ForLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise))
    }

    private mutating func parseIf() throws(ChatTemplateError) -> Statement.Kind {
        var branches: [(test: Expression, body: [Statement])] = []
        var otherwise: [Statement] = []
        while true {
            let test = try parseTuple(allowConditional: false)
            try expectBlockEnd()
            let (body, tag) = try parseBlockBody(until: ["elif", "else", "endif"])
            branches.append((test, body))
            if tag == "elif" { continue }
            if tag == "else" {
                try expectBlockEnd()
                otherwise = try parseBlockBody(until: ["endif"]).0
            }
            try expectBlockEnd()
            return .conditional(branches: branches, otherwise: otherwise)
        }
    }

    private mutating func parseSet() throws(ChatTemplateError) -> Statement.Kind {
        let target = try parseAssignTarget(allowNamespace: true)
        if skipSymbol("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value)
        }
        let filters = try parseFilterApplications(required: false)
        try expectBlockEnd()
        let (body, _) = try parseBlockBody(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, filters: filters, body: body)
    }

    private mutating func parseAssignTarget(allowNamespace: Bool) throws(ChatTemplateError) -> AssignTarget {
        let parenthesized = skipSymbol("(")
        let location = current.location
        let first = try expectName()
        if allowNamespace, !parenthesized, skipSymbol(".") {
            return .namespaceAttribute(namespace: first, attribute: try expectName())
        }
        var names = [first]
        var sawComma = false
        while skipSymbol(",") {
            sawComma = true
            if parenthesized, isSymbol(")") { break }
            guard case .name = current.kind else { break }
            names.append(try expectName())
        }
        if parenthesized { try expectSymbol(")") }
        for name in names where ["true", "false", "none", "True", "False", "None"].contains(name) {
            throw ChatTemplateError(.syntax, "cannot assign to '\(name)'", at: location)
        }
        return sawComma || parenthesized && names.count > 1 ? .names(names) : .name(first)
    }

    private mutating func parseMacro() throws(ChatTemplateError) -> Statement.Kind {
        let name = try expectName()
        let parameters = try parseParameters()
        try expectBlockEnd()
        return .macro(try parseMacroBody(name: name, parameters: parameters, endTag: "endmacro"))
    }

    /// `(a, b=default)` of a macro or call block.
    private mutating func parseParameters() throws(ChatTemplateError) -> [(name: String, defaultValue: Expression?)] {
        try expectSymbol("(")
        var parameters: [(name: String, defaultValue: Expression?)] = []
        while !isSymbol(")") {
            if !parameters.isEmpty { try expectSymbol(",") }
            if isSymbol(")") { break }
            let name = try expectName()
            let defaultValue = skipSymbol("=") ? try parseExpression() : nil
            parameters.append((name, defaultValue))
        }
        try expectSymbol(")")
        return parameters
    }

    private mutating func parseMacroBody(
        name: String, parameters: [(name: String, defaultValue: Expression?)], endTag: String
    ) throws(ChatTemplateError) -> MacroDefinition {
        let outerLoopDepth = loopDepth
        loopDepth = 0
        namesReadInMacros.append([])
        let (body, _) = try parseBlockBody(until: [endTag])
        let namesRead = namesReadInMacros.removeLast()
        loopDepth = outerLoopDepth
        try expectBlockEnd()
        return MacroDefinition(
            name: name, parameters: parameters, body: body,
            acceptsExtraPositional: namesRead.contains("varargs"),
            acceptsExtraKeywords: namesRead.contains("kwargs"))
    }

    private mutating func parseCallBlock() throws(ChatTemplateError) -> Statement.Kind {
        let parameters = isSymbol("(") ? try parseParameters() : []
        let call = try parseExpression()
        guard case .call = call.kind else {
            throw ChatTemplateError(.syntax, "expected a macro call after 'call'", at: call.location)
        }
        try expectBlockEnd()
        let caller = try parseMacroBody(name: "caller", parameters: parameters, endTag: "endcall")
        return .callBlock(call: call, caller: caller)
    }

    private mutating func parseFilterBlock() throws(ChatTemplateError) -> Statement.Kind {
        let filters = try parseFilterApplications(required: true)
        try expectBlockEnd()
        let (body, _) = try parseBlockBody(until: ["endfilter"])
        try expectBlockEnd()
        return .filterBlock(filters: filters, body: body)
    }

    /// `name(args) | name2 ...` in a `{% filter %}` tag, or `| name ...` in a block `set`.
    private mutating func parseFilterApplications(required: Bool) throws(ChatTemplateError) -> [FilterApplication] {
        var filters: [FilterApplication] = []
        var first = required
        while first || skipSymbol("|") {
            first = false
            let location = current.location
            let name = try parseFilterName()
            let arguments = isSymbol("(") ? try parseCallArguments() : Arguments()
            filters.append(FilterApplication(name: name, arguments: arguments, location: location))
        }
        return filters
    }
}

// llama.cpp's GBNF (grammars/README.md in llama.cpp): `name ::= alternatives` rules, one of them `root`;
// "literals" and [character classes] with the escapes \n \r \t \\ \" \[ \] \- \^ \xHH \uHHHH \UHHHHHHHH;
// `.` for any character; ( groups ); | choices; * + ? {m} {m,} {m,n} repetitions; # comments. A rule ends
// at a newline outside parentheses. Rule names are letters, digits, `-` and `_`.

extension Grammar {
    /// Parses llama.cpp's GBNF; the rule named `root` is the root.
    /// - Throws: `GrammarError` `.invalidGrammar` naming the line and column of a syntax error, an undefined
    ///   rule, a rule defined twice or a missing `root`; `.unusableGrammar` for left recursion.
    public init(gbnf text: String) throws(GrammarError) {
        var parser = GBNFParser(scalars: Array(text.unicodeScalars))
        self = try parser.parse()
        try checkUsable()
    }
}

private struct GBNFParser {
    let scalars: [Unicode.Scalar]
    var index = 0
    var names: [String: Int] = [:]
    var bodies: [GrammarExpression?] = []
    var firstUse: [Int: Int] = [:]

    init(scalars: [Unicode.Scalar]) {
        self.scalars = scalars
    }

    var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    func failure(_ message: String, at position: Int? = nil) -> GrammarError {
        let position = position ?? index
        var line = 1
        var column = 1
        for scalar in scalars.prefix(position) {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return GrammarError(.invalidGrammar, "GBNF grammar, line \(line), column \(column): \(message)")
    }

    static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        ("a" ... "z").contains(scalar) || ("A" ... "Z").contains(scalar)
            || ("0" ... "9").contains(scalar) || scalar == "-" || scalar == "_"
    }

    /// Skips spaces, tabs and comments, and newlines too when `newlines` (inside parentheses, after `::=` or `|`).
    mutating func skipSpace(newlines: Bool) {
        while let scalar = current {
            if scalar == " " || scalar == "\t" || (newlines && (scalar == "\n" || scalar == "\r")) {
                index += 1
            } else if scalar == "#" {
                while let c = current, c != "\n" { index += 1 }
            } else {
                return
            }
        }
    }

    mutating func ruleIndex(_ name: String) -> Int {
        if let index = names[name] { return index }
        names[name] = bodies.count
        bodies.append(nil)
        return bodies.count - 1
    }

    mutating func parseName() throws(GrammarError) -> String {
        let start = index
        while let scalar = current, GBNFParser.isNameScalar(scalar) { index += 1 }
        guard index > start else { throw failure("expected a rule name") }
        return String(String.UnicodeScalarView(scalars[start ..< index]))
    }

    mutating func parse() throws(GrammarError) -> Grammar {
        while true {
            skipSpace(newlines: true)
            guard current != nil else { break }
            let start = index
            let name = try parseName()
            skipSpace(newlines: false)
            guard current == ":", index + 2 < scalars.count, scalars[index + 1] == ":", scalars[index + 2] == "=" else {
                throw failure("expected '::=' after the rule name '\(name)'")
            }
            index += 3
            skipSpace(newlines: true)
            let rule = ruleIndex(name)
            guard bodies[rule] == nil else { throw failure("the rule '\(name)' is defined twice", at: start) }
            bodies[rule] = try parseChoice(nested: false)
            skipSpace(newlines: false)
            guard current == nil || current == "\n" || current == "\r" else { throw failure("unexpected character") }
        }
        guard let root = names["root"] else { throw failure("the grammar has no rule named 'root'") }
        var rules: [Grammar.Rule] = []
        let byIndex = Dictionary(uniqueKeysWithValues: names.map { ($1, $0) })
        for (i, body) in bodies.enumerated() {
            guard let body else { throw failure("the rule '\(byIndex[i]!)' is used but never defined", at: firstUse[i]) }
            rules.append(Grammar.Rule(name: byIndex[i]!, body: body))
        }
        return Grammar(rules: rules, root: root)
    }

    mutating func parseChoice(nested: Bool) throws(GrammarError) -> GrammarExpression {
        var alternatives = [try parseSequence(nested: nested)]
        while current == "|" {
            index += 1
            skipSpace(newlines: true)
            alternatives.append(try parseSequence(nested: nested))
        }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    mutating func parseSequence(nested: Bool) throws(GrammarError) -> GrammarExpression {
        var items: [GrammarExpression] = []
        while let scalar = current {
            var item: GrammarExpression
            if scalar == "\"" {
                index += 1
                var text = String.UnicodeScalarView()
                while current != "\"" {
                    guard current != nil, current != "\n" else { throw failure("a literal is never closed") }
                    text.append(try parseCharacter())
                }
                index += 1
                item = .literal(String(text))
            } else if scalar == "[" {
                item = .characters(try parseClass())
            } else if scalar == "." {
                index += 1
                item = .characters(.all)
            } else if scalar == "(" {
                index += 1
                skipSpace(newlines: true)
                item = try parseChoice(nested: true)
                guard current == ")" else { throw failure("expected ')'") }
                index += 1
            } else if scalar == "<" {
                throw failure("token references (<...>) are not supported; write the token's text as a literal")
            } else if GBNFParser.isNameScalar(scalar) {
                let start = index
                let name = try parseName()
                let rule = ruleIndex(name)
                if firstUse[rule] == nil { firstUse[rule] = start }
                item = .rule(rule)
            } else {
                break
            }
            skipSpace(newlines: nested)
            while let postfix = current, postfix == "*" || postfix == "+" || postfix == "?" || postfix == "{" {
                index += 1
                switch postfix {
                case "*": item = .repetition(item, min: 0, max: nil)
                case "+": item = .repetition(item, min: 1, max: nil)
                case "?": item = .repetition(item, min: 0, max: 1)
                default:
                    let (low, high) = try parseBounds()
                    item = .repetition(item, min: low, max: high)
                }
                skipSpace(newlines: nested)
            }
            items.append(item)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func parseNumber() throws(GrammarError) -> Int {
        let start = index
        while let scalar = current, ("0" ... "9").contains(scalar) { index += 1 }
        guard index > start, index - start <= 6, let value = Int(String(String.UnicodeScalarView(scalars[start ..< index]))) else {
            throw failure("expected a repetition count (at most 6 digits)")
        }
        return value
    }

    /// `{m}`, `{m,}`, `{m,n}` after the `{`.
    mutating func parseBounds() throws(GrammarError) -> (Int, Int?) {
        skipSpace(newlines: false)
        let low = try parseNumber()
        skipSpace(newlines: false)
        var high: Int? = low
        if current == "," {
            index += 1
            skipSpace(newlines: false)
            high = current == "}" ? nil : try parseNumber()
            skipSpace(newlines: false)
        }
        guard current == "}" else { throw failure("expected '}' to close a repetition count") }
        index += 1
        if let high, high < low { throw failure("a repetition's upper count \(high) is below its lower count \(low)") }
        return (low, high)
    }

    mutating func parseClass() throws(GrammarError) -> CharacterRanges {
        index += 1
        let negated = current == "^"
        if negated { index += 1 }
        var ranges: [ClosedRange<UInt32>] = []
        while current != "]" {
            guard current != nil, current != "\n" else { throw failure("a character class is never closed") }
            let low = try parseCharacter()
            var high = low
            if current == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                index += 1
                high = try parseCharacter()
                guard high.value >= low.value else { throw failure("the character range \(low)-\(high) runs backwards") }
            }
            ranges.append(low.value ... high.value)
        }
        index += 1
        let set = CharacterRanges(ranges)
        return negated ? set.complement : set
    }

    mutating func parseCharacter() throws(GrammarError) -> Unicode.Scalar {
        guard let scalar = current else { throw failure("unexpected end of the grammar") }
        index += 1
        guard scalar == "\\" else { return scalar }
        guard let escape = current else { throw failure("unexpected end of the grammar after '\\'") }
        index += 1
        switch escape {
        case "n": return "\n"
        case "r": return "\r"
        case "t": return "\t"
        case "x": return try parseHex(digits: 2)
        case "u": return try parseHex(digits: 4)
        case "U": return try parseHex(digits: 8)
        case "\\", "\"", "[", "]", "-", "^", "/": return escape
        default: throw failure("unknown escape '\\\(escape)'")
        }
    }

    mutating func parseHex(digits: Int) throws(GrammarError) -> Unicode.Scalar {
        guard index + digits <= scalars.count,
              let value = UInt32(String(String.UnicodeScalarView(scalars[index ..< index + digits])), radix: 16),
              let scalar = Unicode.Scalar(value)
        else { throw failure("expected \(digits) hexadecimal digits naming a Unicode scalar") }
        index += digits
        return scalar
    }
}

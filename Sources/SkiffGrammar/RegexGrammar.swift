// Regular expressions (ECMAScript syntax, as JSON Schema's `pattern` and vLLM's `guided_regex` use it) as grammar
// expressions: characters and escapes (\d \w \s and their negations, \t \n \r \f \v \0, \xHH, \uHHHH, \u{...}, and
// escaped punctuation), classes with ranges and negation, `.` (any character but a line break), groups (capturing,
// `(?:` and named), alternation, the quantifiers * + ? {m} {m,} {m,n} (lazy forms match the same texts), and `^` /
// `$` at the ends. Backreferences, lookaround and flags are refused: no context-free grammar can enforce them.

extension Grammar {
    /// The grammar of the texts `pattern` matches whole (as if anchored at both ends).
    /// - Throws: `GrammarError` `.invalidRegex` for a pattern that does not parse or uses a refused feature.
    public init(regex pattern: String) throws(GrammarError) {
        let expression = try RegexParser.parse(pattern, anchored: true) { .characters($0) }
        self.init(rules: [Rule(name: "root", body: expression)], root: 0)
    }
}

/// Parses a regular expression into a grammar expression.
struct RegexParser {
    let scalars: [Unicode.Scalar]
    let pattern: String
    var index = 0
    /// Turns a set of characters into what the text holds for one of them (for a JSON string: the escaped form).
    let character: (CharacterRanges) -> GrammarExpression

    /// The expression for `pattern`. When `anchored` is false (JSON Schema's `pattern`, which matches anywhere in
    /// the string), a pattern without `^` may be preceded, and one without `$` followed, by any text.
    static func parse(_ pattern: String, anchored: Bool,
                      character: @escaping (CharacterRanges) -> GrammarExpression) throws(GrammarError) -> GrammarExpression {
        var parser = RegexParser(scalars: Array(pattern.unicodeScalars), pattern: pattern, character: character)
        var startAnchored = anchored
        var endAnchored = anchored
        if parser.scalars.first == "^" {
            parser.index = 1
            startAnchored = true
        }
        var end = parser.scalars.count
        if end > parser.index, parser.scalars[end - 1] == "$", !(end >= 2 && parser.scalars[end - 2] == "\\") {
            end -= 1
            endAnchored = true
        }
        let body = try parser.parseAlternatives(until: end)
        guard parser.index == end else { throw parser.failure("unexpected ')'") }
        let any = GrammarExpression.repetition(character(CharacterRanges.all), min: 0, max: nil)
        return .sequence((startAnchored ? [] : [any]) + [body] + (endAnchored ? [] : [any]))
    }

    func failure(_ message: String) -> GrammarError {
        GrammarError(.invalidRegex, "the regular expression /\(pattern)/ cannot be used: \(message) (at character \(index + 1))")
    }

    var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    mutating func parseAlternatives(until end: Int) throws(GrammarError) -> GrammarExpression {
        var alternatives = [try parseSequence(until: end)]
        while index < end, scalars[index] == "|" {
            index += 1
            alternatives.append(try parseSequence(until: end))
        }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    mutating func parseSequence(until end: Int) throws(GrammarError) -> GrammarExpression {
        var items: [GrammarExpression] = []
        while index < end, scalars[index] != "|", scalars[index] != ")" {
            var atom = try parseAtom(until: end)
            while index < end, let quantifier = try parseQuantifier(until: end) {
                atom = .repetition(atom, min: quantifier.min, max: quantifier.max)
            }
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func parseQuantifier(until end: Int) throws(GrammarError) -> (min: Int, max: Int?)? {
        let result: (min: Int, max: Int?)
        switch scalars[index] {
        case "*": result = (0, nil)
        case "+": result = (1, nil)
        case "?": result = (0, 1)
        case "{":
            guard let bounds = try parseBounds(until: end) else { return nil }
            if index < end, scalars[index] == "?" { index += 1 }
            return bounds
        default: return nil
        }
        index += 1
        if index < end, scalars[index] == "?" { index += 1 } // a lazy quantifier matches the same texts
        return result
    }

    /// `{m}`, `{m,}`, `{m,n}`; nil (and nothing consumed) when the brace is a literal one.
    mutating func parseBounds(until end: Int) throws(GrammarError) -> (min: Int, max: Int?)? {
        var i = index + 1
        func number() -> Int? {
            let start = i
            while i < end, ("0" ... "9").contains(scalars[i]) { i += 1 }
            guard i > start, i - start <= 6 else { return nil }
            return Int(String(String.UnicodeScalarView(scalars[start ..< i])))
        }
        guard let low = number() else { return nil }
        var high: Int? = low
        if i < end, scalars[i] == "," {
            i += 1
            high = i < end && scalars[i] == "}" ? nil : number()
            if high == nil, !(i < end && scalars[i] == "}") { return nil }
        }
        guard i < end, scalars[i] == "}" else { return nil }
        index = i + 1
        if let high, high < low { throw failure("the repetition {\(low),\(high)} runs backwards") }
        return (low, high)
    }

    mutating func parseAtom(until end: Int) throws(GrammarError) -> GrammarExpression {
        let scalar = scalars[index]
        index += 1
        switch scalar {
        case "(":
            if current == "?" {
                index += 1
                switch current {
                case ":": index += 1
                case "<" where index + 1 < end && scalars[index + 1] != "=" && scalars[index + 1] != "!":
                    while index < end, scalars[index] != ">" { index += 1 }
                    index += 1
                default: throw failure("lookaround and inline flags are not supported")
                }
            }
            let inner = try parseAlternatives(until: end)
            guard index < end, scalars[index] == ")" else { throw failure("a group is never closed") }
            index += 1
            return inner
        case ".":
            return character(CharacterRanges([0x0A ... 0x0A, 0x0D ... 0x0D, 0x2028 ... 0x2029]).complement)
        case "[":
            return character(try parseClass(until: end))
        case "\\":
            return try parseEscape(until: end, inClass: false)
        case "^", "$":
            throw failure("anchors are only supported at the start and end of the pattern")
        case "*", "+", "?":
            throw failure("a quantifier has nothing to repeat")
        default:
            return character(CharacterRanges(scalar))
        }
    }

    mutating func parseClass(until end: Int) throws(GrammarError) -> CharacterRanges {
        var negated = false
        if current == "^" {
            negated = true
            index += 1
        }
        var set = CharacterRanges([])
        var first = true
        while true {
            guard index < end else { throw failure("a character class is never closed") }
            if scalars[index] == "]", !first { break }
            first = false
            let low = try parseClassMember(until: end)
            if index + 1 < end, scalars[index] == "-", scalars[index + 1] != "]", case .single(let a) = low {
                index += 1
                guard case .single(let b) = try parseClassMember(until: end) else { throw failure("a range ends with a class escape") }
                guard b.value >= a.value else { throw failure("the range \(a)-\(b) runs backwards") }
                set = set.union(CharacterRanges([a.value ... b.value]))
            } else {
                switch low {
                case .single(let a): set = set.union(CharacterRanges(a))
                case .set(let s): set = set.union(s)
                }
            }
        }
        index += 1
        return negated ? set.complement : set
    }

    enum ClassMember {
        case single(Unicode.Scalar)
        case set(CharacterRanges)
    }

    mutating func parseClassMember(until end: Int) throws(GrammarError) -> ClassMember {
        let scalar = scalars[index]
        index += 1
        guard scalar == "\\" else { return .single(scalar) }
        guard index < end else { throw failure("the pattern ends with '\\'") }
        if let set = RegexParser.classEscape(scalars[index]) {
            index += 1
            return .set(set)
        }
        if scalars[index] == "b" {
            index += 1
            return .single("\u{08}")
        }
        return .single(try parseCharacterEscape(until: end))
    }

    mutating func parseEscape(until end: Int, inClass: Bool) throws(GrammarError) -> GrammarExpression {
        guard index < end else { throw failure("the pattern ends with '\\'") }
        if let set = RegexParser.classEscape(scalars[index]) {
            index += 1
            return character(set)
        }
        switch scalars[index] {
        case "b", "B": throw failure("word boundaries (\\b, \\B) are not supported")
        case "1" ... "9", "k": throw failure("backreferences are not supported")
        default: return character(CharacterRanges(try parseCharacterEscape(until: end)))
        }
    }

    /// `\d \w \s \D \W \S` as sets.
    static func classEscape(_ letter: Unicode.Scalar) -> CharacterRanges? {
        let digit = CharacterRanges([0x30 ... 0x39])
        let word = CharacterRanges([0x30 ... 0x39, 0x41 ... 0x5A, 0x5F ... 0x5F, 0x61 ... 0x7A])
        let space = CharacterRanges([0x09 ... 0x0D, 0x20 ... 0x20, 0xA0 ... 0xA0, 0x1680 ... 0x1680, 0x2000 ... 0x200A,
                                     0x2028 ... 0x2029, 0x202F ... 0x202F, 0x205F ... 0x205F, 0x3000 ... 0x3000, 0xFEFF ... 0xFEFF])
        switch letter {
        case "d": return digit
        case "D": return digit.complement
        case "w": return word
        case "W": return word.complement
        case "s": return space
        case "S": return space.complement
        default: return nil
        }
    }

    /// A single character after `\`.
    mutating func parseCharacterEscape(until end: Int) throws(GrammarError) -> Unicode.Scalar {
        let letter = scalars[index]
        index += 1
        switch letter {
        case "t": return "\t"
        case "n": return "\n"
        case "r": return "\r"
        case "f": return "\u{0C}"
        case "v": return "\u{0B}"
        case "0": return "\u{00}"
        case "x": return try hex(digits: 2, until: end)
        case "u":
            if current == "{" {
                index += 1
                let start = index
                while index < end, scalars[index] != "}" { index += 1 }
                guard index < end, let value = UInt32(String(String.UnicodeScalarView(scalars[start ..< index])), radix: 16),
                      let scalar = Unicode.Scalar(value) else { throw failure("invalid \\u{...} escape") }
                index += 1
                return scalar
            }
            return try hex(digits: 4, until: end)
        case "p", "P": throw failure("Unicode property escapes (\\p{...}) are not supported")
        case "c": throw failure("control escapes (\\cX) are not supported")
        default:
            guard !letter.properties.isAlphabetic || letter.value > 0x7F else { throw failure("unknown escape '\\\(letter)'") }
            return letter
        }
    }

    mutating func hex(digits: Int, until end: Int) throws(GrammarError) -> Unicode.Scalar {
        guard index + digits <= end, let value = UInt32(String(String.UnicodeScalarView(scalars[index ..< index + digits])), radix: 16),
              let scalar = Unicode.Scalar(value) else { throw failure("expected \(digits) hexadecimal digits") }
        index += digits
        return scalar
    }
}

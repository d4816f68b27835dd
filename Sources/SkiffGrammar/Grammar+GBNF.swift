extension Grammar {
    /// The grammar as llama.cpp's GBNF, `root` first; `Grammar(gbnf:)` reads it back to the same language.
    public var gbnf: String {
        var names = rules.map { $0.name }
        var seen: [String: Int] = [:]
        for i in names.indices {
            let base = names[i].isEmpty ? "rule" : names[i]
            let count = seen[base, default: 0]
            seen[base] = count + 1
            names[i] = i == root ? "root" : (count == 0 && base != "root" ? base : "\(base)-\(count + 1)")
        }
        let order = [root] + rules.indices.filter { $0 != root }
        return order.map { "\(names[$0]) ::= \(GrammarExpression.gbnf(rules[$0].body, names: names, nested: false))" }.joined(separator: "\n") + "\n"
    }
}

extension GrammarExpression {
    static func gbnf(_ expression: GrammarExpression, names: [String], nested: Bool) -> String {
        switch expression {
        case .literal(let text):
            return "\"" + text.unicodeScalars.map { escape($0, inClass: false) }.joined() + "\""
        case .characters(let set):
            if set == .all { return "." }
            let complement = set.complement
            let (negated, shown) = complement.ranges.count < set.ranges.count ? ("^", complement) : ("", set)
            let body = shown.ranges.map { range in
                range.lowerBound == range.upperBound ? escape(range.lowerBound, inClass: true)
                    : escape(range.lowerBound, inClass: true) + "-" + escape(range.upperBound, inClass: true)
            }.joined()
            return "[\(negated)\(body)]"
        case .rule(let index):
            return names[index]
        case .sequence(let items):
            if items.isEmpty { return "\"\"" }
            let text = items.map { gbnf($0, names: names, nested: true) }.joined(separator: " ")
            return nested && items.count > 1 ? "(\(text))" : text
        case .choice(let items):
            if items.isEmpty { return "[^\\x00-\\U0010FFFF]" }
            let text = items.map { gbnf($0, names: names, nested: false) }.joined(separator: " | ")
            return nested ? "(\(text))" : text
        case .repetition(let item, let min, let max):
            let inner: String
            switch item {
            case .literal, .characters, .rule: inner = gbnf(item, names: names, nested: true)
            default: inner = "(" + gbnf(item, names: names, nested: false) + ")"
            }
            switch (min, max) {
            case (0, nil): return inner + "*"
            case (1, nil): return inner + "+"
            case (0, 1): return inner + "?"
            case (let low, nil): return inner + "{\(low),}"
            case (let low, let high?) where low == high: return inner + "{\(low)}"
            case (let low, let high?): return inner + "{\(low),\(high)}"
            }
        }
    }

    private static func escape(_ scalar: Unicode.Scalar, inClass: Bool) -> String {
        escape(scalar.value, inClass: inClass)
    }

    private static func escape(_ value: UInt32, inClass: Bool) -> String {
        switch value {
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x5C: return "\\\\"
        case 0x22 where !inClass: return "\\\""
        case 0x5D where inClass, 0x5B where inClass, 0x2D where inClass, 0x5E where inClass: return "\\" + String(Unicode.Scalar(value)!)
        case 0x20 ..< 0x7F: return String(Unicode.Scalar(value)!)
        case 0 ..< 0x100: return "\\x" + hex(value, digits: 2)
        case 0x100 ..< 0x10000: return "\\u" + hex(value, digits: 4)
        default: return "\\U" + hex(value, digits: 8)
        }
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}

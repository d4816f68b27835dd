/// Reads JSON text (RFC 8259) into a `TemplateValue`, keeping object keys in document order.
/// Integers that fit in `Int` become `.int`, other numbers `.double`; a repeated key keeps its
/// first position and its last value, as Python's `json.loads` does.
struct JSONParser {
    static let maxDepth = 128

    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var depth = 0

    static func parse(_ text: String) throws(ChatTemplateError) -> TemplateValue {
        var parser = JSONParser(scalars: Array(text.unicodeScalars))
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.index == parser.scalars.count else { throw parser.failure("unexpected text after the JSON value") }
        return value
    }

    private init(scalars: [Unicode.Scalar]) {
        self.scalars = scalars
    }

    private var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    private func failure(_ message: String) -> ChatTemplateError {
        var line = 1
        var column = 1
        for scalar in scalars.prefix(index) {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return ChatTemplateError(.invalidJSON, message, at: SourceLocation(line: line, column: column))
    }

    private mutating func skipWhitespace() {
        while let scalar = current, scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" { index += 1 }
    }

    private mutating func expect(_ literal: String) throws(ChatTemplateError) {
        for scalar in literal.unicodeScalars {
            guard current == scalar else { throw failure("expected '\(literal)'") }
            index += 1
        }
    }

    private mutating func parseValue() throws(ChatTemplateError) -> TemplateValue {
        switch current {
        case "{": return try nested { (parser: inout JSONParser) throws(ChatTemplateError) in try parser.parseObject() }
        case "[": return try nested { (parser: inout JSONParser) throws(ChatTemplateError) in try parser.parseArray() }
        case "\"": return .string(try parseString())
        case "t":
            try expect("true")
            return .bool(true)
        case "f":
            try expect("false")
            return .bool(false)
        case "n":
            try expect("null")
            return .none
        case let scalar? where scalar == "-" || ("0"..."9").contains(scalar):
            return try parseNumber()
        case nil:
            throw failure("unexpected end of JSON text")
        default:
            throw failure("unexpected character in JSON text")
        }
    }

    private mutating func nested(
        _ body: (inout JSONParser) throws(ChatTemplateError) -> TemplateValue
    ) throws(ChatTemplateError) -> TemplateValue {
        depth += 1
        guard depth <= JSONParser.maxDepth else {
            throw failure("JSON nests arrays or objects more than \(JSONParser.maxDepth) levels deep")
        }
        let value = try body(&self)
        depth -= 1
        return value
    }

    private mutating func parseObject() throws(ChatTemplateError) -> TemplateValue {
        index += 1
        var pairs: [(key: String, value: TemplateValue)] = []
        var positions: [String: Int] = [:]
        skipWhitespace()
        if current == "}" {
            index += 1
            return .object(pairs)
        }
        while true {
            skipWhitespace()
            guard current == "\"" else { throw failure("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            try expect(":")
            skipWhitespace()
            let value = try parseValue()
            if let position = positions[key] {
                pairs[position].value = value
            } else {
                positions[key] = pairs.count
                pairs.append((key, value))
            }
            skipWhitespace()
            if current == "," {
                index += 1
                continue
            }
            try expect("}")
            return .object(pairs)
        }
    }

    private mutating func parseArray() throws(ChatTemplateError) -> TemplateValue {
        index += 1
        var items: [TemplateValue] = []
        skipWhitespace()
        if current == "]" {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            if current == "," {
                index += 1
                continue
            }
            try expect("]")
            return .array(items)
        }
    }

    private mutating func parseString() throws(ChatTemplateError) -> String {
        index += 1
        var result = String.UnicodeScalarView()
        while true {
            guard let scalar = current else { throw failure("string is never closed") }
            index += 1
            switch scalar {
            case "\"":
                return String(result)
            case "\\":
                guard let escape = current else { throw failure("string is never closed") }
                index += 1
                switch escape {
                case "\"", "\\", "/": result.append(escape)
                case "b": result.append("\u{08}")
                case "f": result.append("\u{0C}")
                case "n": result.append("\n")
                case "r": result.append("\r")
                case "t": result.append("\t")
                case "u": result.append(try parseUnicodeEscape())
                default: throw failure("invalid escape in string")
                }
            default:
                guard scalar.value >= 0x20 else { throw failure("control character in string") }
                result.append(scalar)
            }
        }
    }

    private mutating func parseHex4() throws(ChatTemplateError) -> UInt32 {
        guard index + 4 <= scalars.count,
            let value = UInt32(String(scalars: scalars[index..<index + 4]), radix: 16)
        else { throw failure("invalid \\u escape") }
        index += 4
        return value
    }

    private mutating func parseUnicodeEscape() throws(ChatTemplateError) -> Unicode.Scalar {
        let high = try parseHex4()
        if (0xD800..<0xDC00).contains(high), current == "\\", index + 1 < scalars.count, scalars[index + 1] == "u" {
            index += 2
            let low = try parseHex4()
            guard (0xDC00..<0xE000).contains(low),
                let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            else { throw failure("invalid surrogate pair in \\u escape") }
            return scalar
        }
        guard let scalar = Unicode.Scalar(high) else { throw failure("lone surrogate in \\u escape") }
        return scalar
    }

    private mutating func parseNumber() throws(ChatTemplateError) -> TemplateValue {
        let start = index
        var isInteger = true
        func digits() -> Int {
            let first = index
            while let scalar = current, ("0"..."9").contains(scalar) { index += 1 }
            return index - first
        }
        if current == "-" { index += 1 }
        if current == "0" {
            index += 1
        } else if digits() == 0 {
            throw failure("invalid number")
        }
        if current == "." {
            index += 1
            isInteger = false
            guard digits() > 0 else { throw failure("invalid number") }
        }
        if current == "e" || current == "E" {
            index += 1
            isInteger = false
            if current == "+" || current == "-" { index += 1 }
            guard digits() > 0 else { throw failure("invalid number") }
        }
        let text = String(scalars: scalars[start..<index])
        if isInteger, let value = Int(text) { return .int(value) }
        guard let value = Double(text) else { throw failure("invalid number") }
        return .double(value)
    }
}

/// Splits template source into tokens the way Jinja's lexer does with `trim_blocks=True` and
/// `lstrip_blocks=True`: newlines normalized to `\n`, one trailing newline dropped, `-`/`+`
/// whitespace control on tags, comments removed, `{% raw %}` bodies kept as text.
struct Lexer {
    private let source: [Unicode.Scalar]
    private let lineStarts: [Int]
    private var position = 0
    private var tokens: [Token] = []
    /// Whether the last consumed text ended a line (Jinja's `line_starting`), for `lstrip_blocks`.
    private var lineStarting = true

    static func tokenize(_ text: String) throws(ChatTemplateError) -> [Token] {
        var lexer = Lexer(text)
        try lexer.run()
        return lexer.tokens
    }

    private init(_ text: String) {
        var normalized: [Unicode.Scalar] = []
        normalized.reserveCapacity(text.unicodeScalars.count)
        var previousWasReturn = false
        for scalar in text.unicodeScalars {
            if scalar == "\r" {
                normalized.append("\n")
                previousWasReturn = true
                continue
            }
            if !(scalar == "\n" && previousWasReturn) { normalized.append(scalar) }
            previousWasReturn = false
        }
        if normalized.last == "\n" { normalized.removeLast() }
        source = normalized
        var starts = [0]
        for (index, scalar) in normalized.enumerated() where scalar == "\n" { starts.append(index + 1) }
        lineStarts = starts
    }

    // MARK: - Template text and tags

    private mutating func run() throws(ChatTemplateError) {
        while position < source.count {
            guard let tagStart = nextTagStart() else {
                emitText(String(scalars: source[position...]), at: position)
                position = source.count
                break
            }
            let opener = source[tagStart + 1]
            var afterOpener = tagStart + 2
            var sign: Unicode.Scalar?
            if afterOpener < source.count, source[afterOpener] == "-" || source[afterOpener] == "+" {
                sign = source[afterOpener]
                afterOpener += 1
            }
            let text = controlledText(position..<tagStart, sign: sign, isVariableTag: opener == "{")
            emitText(text, at: position)
            position = afterOpener
            switch opener {
            case "#":
                try skipComment(openedAt: tagStart)
            case "%":
                if let bodyStart = rawBlockBodyStart() {
                    position = bodyStart
                    try lexRawBody(openedAt: tagStart)
                } else {
                    tokens.append(Token(kind: .blockBegin, location: location(of: tagStart)))
                    try lexTagContents(isBlock: true, openedAt: tagStart)
                }
            default:
                tokens.append(Token(kind: .variableBegin, location: location(of: tagStart)))
                try lexTagContents(isBlock: false, openedAt: tagStart)
            }
        }
        tokens.append(Token(kind: .endOfInput, location: location(of: source.count)))
    }

    /// The index of the next `{{`, `{%` or `{#` at or after `position`.
    private func nextTagStart() -> Int? {
        var index = position
        while index + 1 < source.count {
            if source[index] == "{" {
                let next = source[index + 1]
                if next == "{" || next == "%" || next == "#" { return index }
            }
            index += 1
        }
        return nil
    }

    /// The text before a tag after whitespace control: `-` strips all whitespace before the tag;
    /// otherwise `lstrip_blocks` strips spaces and tabs between a line start and a block or
    /// comment tag, unless the tag is marked with `+`.
    private func controlledText(_ range: Range<Int>, sign: Unicode.Scalar?, isVariableTag: Bool) -> String {
        var end = range.upperBound
        if sign == "-" {
            while end > range.lowerBound, source[end - 1].isPythonWhitespace { end -= 1 }
        } else if sign != "+", !isVariableTag {
            var lineStart = range.upperBound
            while lineStart > range.lowerBound, source[lineStart - 1] != "\n" { lineStart -= 1 }
            let atLineStart = lineStart > range.lowerBound || lineStarting
            if atLineStart, source[lineStart..<range.upperBound].allSatisfy({ $0 == " " || $0 == "\t" }) {
                end = lineStart
            }
        }
        return String(scalars: source[range.lowerBound..<end])
    }

    private mutating func emitText(_ text: String, at start: Int) {
        if !text.isEmpty { tokens.append(Token(kind: .text(text), location: location(of: start))) }
    }

    private func matches(_ literal: String, at index: Int) -> Bool {
        var offset = index
        for scalar in literal.unicodeScalars {
            guard offset < source.count, source[offset] == scalar else { return false }
            offset += 1
        }
        return true
    }

    /// Consumes whitespace after a `-` closing delimiter and notes whether a line ended there.
    private mutating func consumeTrailingWhitespace() {
        while position < source.count, source[position].isPythonWhitespace { position += 1 }
        lineStarting = position > 0 && source[position - 1] == "\n"
    }

    /// Consumes the newline after a closing delimiter (`trim_blocks`), if there is one.
    private mutating func consumeTrimmedNewline() {
        if position < source.count, source[position] == "\n" {
            position += 1
            lineStarting = true
        } else {
            lineStarting = false
        }
    }

    private mutating func skipComment(openedAt start: Int) throws(ChatTemplateError) {
        var index = position
        while index < source.count {
            if matches("+#}", at: index) {
                position = index + 3
                lineStarting = false
                return
            }
            if matches("-#}", at: index) {
                position = index + 3
                consumeTrailingWhitespace()
                return
            }
            if matches("#}", at: index) {
                position = index + 2
                consumeTrimmedNewline()
                return
            }
            index += 1
        }
        throw ChatTemplateError(.syntax, "comment is never closed with '#}'", at: location(of: start))
    }

    /// If `position` (just after `{%` and its sign) starts `raw %}`, where the raw text begins.
    private func rawBlockBodyStart() -> Int? {
        var index = position
        while index < source.count, source[index].isPythonWhitespace { index += 1 }
        guard matches("raw", at: index) else { return nil }
        index += 3
        while index < source.count, source[index].isPythonWhitespace { index += 1 }
        if matches("-%}", at: index) {
            index += 3
            while index < source.count, source[index].isPythonWhitespace { index += 1 }
            return index
        }
        return matches("%}", at: index) ? index + 2 : nil
    }

    private mutating func lexRawBody(openedAt start: Int) throws(ChatTemplateError) {
        var index = position
        while index + 1 < source.count {
            if source[index] == "{", source[index + 1] == "%" {
                var cursor = index + 2
                var sign: Unicode.Scalar?
                if cursor < source.count, source[cursor] == "-" || source[cursor] == "+" {
                    sign = source[cursor]
                    cursor += 1
                }
                while cursor < source.count, source[cursor].isPythonWhitespace { cursor += 1 }
                if matches("endraw", at: cursor) {
                    cursor += 6
                    while cursor < source.count, source[cursor].isPythonWhitespace { cursor += 1 }
                    let closer: String? =
                        matches("+%}", at: cursor) ? "+%}" : matches("-%}", at: cursor) ? "-%}" : matches("%}", at: cursor) ? "%}" : nil
                    if let closer {
                        emitText(controlledText(position..<index, sign: sign, isVariableTag: false), at: position)
                        position = cursor + closer.unicodeScalars.count
                        switch closer {
                        case "+%}": lineStarting = false
                        case "-%}": consumeTrailingWhitespace()
                        default: consumeTrimmedNewline()
                        }
                        return
                    }
                }
            }
            index += 1
        }
        throw ChatTemplateError(.syntax, "raw block is never closed with '{% endraw %}'", at: location(of: start))
    }

    // MARK: - Expressions inside tags

    private mutating func lexTagContents(isBlock: Bool, openedAt start: Int) throws(ChatTemplateError) {
        var brackets: [(closer: Unicode.Scalar, location: SourceLocation)] = []
        while true {
            guard position < source.count else {
                let what = isBlock ? "'{%' tag is never closed with '%}'" : "'{{' tag is never closed with '}}'"
                throw ChatTemplateError(.syntax, what, at: location(of: start))
            }
            if brackets.isEmpty, try lexTagEnd(isBlock: isBlock) { return }
            let scalar = source[position]
            if scalar.isPythonWhitespace {
                position += 1
            } else if ("0"..."9").contains(scalar) {
                try lexNumber()
            } else if scalar == "_" || scalar.properties.isXIDStart {
                lexName()
            } else if scalar == "'" || scalar == "\"" {
                try lexString()
            } else {
                try lexSymbol(brackets: &brackets)
            }
        }
    }

    /// Consumes a closing `%}`/`}}` (with its whitespace control) if one is at `position`.
    private mutating func lexTagEnd(isBlock: Bool) throws(ChatTemplateError) -> Bool {
        let here = location(of: position)
        let close = isBlock ? "%}" : "}}"
        if isBlock, matches("+" + close, at: position) {
            position += 3
            lineStarting = false
        } else if matches("-" + close, at: position) {
            position += 3
            consumeTrailingWhitespace()
        } else if matches(close, at: position) {
            position += 2
            if isBlock { consumeTrimmedNewline() } else { lineStarting = false }
        } else {
            return false
        }
        tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, location: here))
        return true
    }

    private mutating func lexName() {
        let start = position
        position += 1
        while position < source.count, source[position] == "_" || source[position].properties.isXIDContinue {
            position += 1
        }
        tokens.append(Token(kind: .name(String(scalars: source[start..<position])), location: location(of: start)))
    }

    private func isDigit(_ index: Int, radix: Int = 10) -> Bool {
        guard index < source.count else { return false }
        return Int(String(source[index]), radix: radix) != nil
    }

    /// Consumes digits with single underscores between them; returns them without underscores.
    private mutating func consumeDigits(radix: Int = 10) -> String {
        var digits = ""
        while isDigit(position, radix: radix)
            || (position < source.count && source[position] == "_" && isDigit(position + 1, radix: radix))
        {
            if source[position] != "_" { digits.unicodeScalars.append(source[position]) }
            position += 1
        }
        return digits
    }

    private mutating func lexNumber() throws(ChatTemplateError) {
        let start = position
        let here = location(of: start)
        if source[position] == "0", position + 1 < source.count {
            let prefixes: [(Unicode.Scalar, Int)] = [("x", 16), ("X", 16), ("o", 8), ("O", 8), ("b", 2), ("B", 2)]
            if let radix = prefixes.first(where: { $0.0 == source[position + 1] })?.1 {
                position += 2
                if position < source.count, source[position] == "_" { position += 1 }
                let digits = consumeDigits(radix: radix)
                guard let value = Int(digits, radix: radix) else {
                    throw ChatTemplateError(.syntax, "invalid integer literal", at: here)
                }
                tokens.append(Token(kind: .integer(value), location: here))
                return
            }
        }
        var text = consumeDigits()
        var isFloat = false
        let afterDot = start > 0 && source[start - 1] == "."
        if !afterDot {
            if position < source.count, source[position] == ".", isDigit(position + 1) {
                position += 1
                text += "." + consumeDigits()
                isFloat = true
            }
            if position < source.count, source[position] == "e" || source[position] == "E" {
                var cursor = position + 1
                var exponent = "e"
                if cursor < source.count, source[cursor] == "+" || source[cursor] == "-" {
                    exponent.unicodeScalars.append(source[cursor])
                    cursor += 1
                }
                if isDigit(cursor) {
                    position = cursor
                    text += exponent + consumeDigits()
                    isFloat = true
                }
            }
        }
        if isFloat {
            guard let value = Double(text) else {
                throw ChatTemplateError(.syntax, "invalid number literal '\(text)'", at: here)
            }
            tokens.append(Token(kind: .float(value), location: here))
        } else {
            guard let value = Int(text) else {
                throw ChatTemplateError(.syntax, "integer literal '\(text)' is too large", at: here)
            }
            tokens.append(Token(kind: .integer(value), location: here))
        }
    }

    private mutating func lexString() throws(ChatTemplateError) {
        let start = position
        let quote = source[position]
        position += 1
        var body: [Unicode.Scalar] = []
        while position < source.count, source[position] != quote {
            if source[position] == "\\", position + 1 < source.count {
                body.append(source[position])
                position += 1
            }
            body.append(source[position])
            position += 1
        }
        guard position < source.count else {
            throw ChatTemplateError(.syntax, "string literal is never closed", at: location(of: start))
        }
        position += 1
        let value = try Lexer.decodeEscapes(body, at: location(of: start))
        tokens.append(Token(kind: .string(value), location: location(of: start)))
    }

    private static let twoCharacterSymbols: Set<String> = ["//", "**", "==", "!=", ">=", "<="]
    private static let oneCharacterSymbols: Set<Unicode.Scalar> = Set("+-/*%~[](){}><=.:|,;".unicodeScalars)

    private mutating func lexSymbol(
        brackets: inout [(closer: Unicode.Scalar, location: SourceLocation)]
    ) throws(ChatTemplateError) {
        let here = location(of: position)
        let scalar = source[position]
        if position + 1 < source.count {
            let pair = String(scalars: source[position...(position + 1)])
            if Lexer.twoCharacterSymbols.contains(pair) {
                tokens.append(Token(kind: .symbol(pair), location: here))
                position += 2
                return
            }
        }
        guard Lexer.oneCharacterSymbols.contains(scalar) else {
            throw ChatTemplateError(.syntax, "unexpected character \(String(scalar).pythonRepr)", at: here)
        }
        switch scalar {
        case "(": brackets.append((")", here))
        case "[": brackets.append(("]", here))
        case "{": brackets.append(("}", here))
        case ")", "]", "}":
            guard let open = brackets.popLast() else {
                throw ChatTemplateError(.syntax, "unexpected '\(scalar)'", at: here)
            }
            guard open.closer == scalar else {
                throw ChatTemplateError(.syntax, "unexpected '\(scalar)', expected '\(open.closer)'", at: here)
            }
        default:
            break
        }
        tokens.append(Token(kind: .symbol(String(scalar)), location: here))
        position += 1
    }

    private func location(of index: Int) -> SourceLocation {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= index { low = middle } else { high = middle - 1 }
        }
        return SourceLocation(line: low + 1, column: index - lineStarts[low] + 1)
    }

    /// Python's `unicode_escape` decoding of a string literal's body, as Jinja applies it.
    private static func decodeEscapes(_ body: [Unicode.Scalar], at location: SourceLocation) throws(ChatTemplateError) -> String {
        var result = String.UnicodeScalarView()
        var index = 0
        func hexValue(_ count: Int) throws(ChatTemplateError) -> UInt32 {
            guard index + count <= body.count,
                let value = UInt32(String(scalars: body[index..<index + count]), radix: 16)
            else {
                throw ChatTemplateError(.syntax, "truncated \\x, \\u or \\U escape in string literal", at: location)
            }
            index += count
            return value
        }
        while index < body.count {
            let scalar = body[index]
            index += 1
            guard scalar == "\\", index < body.count else {
                result.append(scalar)
                continue
            }
            let escape = body[index]
            index += 1
            switch escape {
            case "\n": break
            case "\\", "'", "\"": result.append(escape)
            case "a": result.append("\u{07}")
            case "b": result.append("\u{08}")
            case "f": result.append("\u{0C}")
            case "n": result.append("\n")
            case "r": result.append("\r")
            case "t": result.append("\t")
            case "v": result.append("\u{0B}")
            case "0"..."7":
                var value = escape.value - 48
                var digits = 1
                while digits < 3, index < body.count, ("0"..."7").contains(body[index]) {
                    value = value * 8 + body[index].value - 48
                    index += 1
                    digits += 1
                }
                if let decoded = Unicode.Scalar(value) { result.append(decoded) }
            case "x", "u", "U":
                let width = escape == "x" ? 2 : escape == "u" ? 4 : 8
                guard let decoded = Unicode.Scalar(try hexValue(width)) else {
                    throw ChatTemplateError(.syntax, "escape in string literal is not a valid character", at: location)
                }
                result.append(decoded)
            case "N":
                throw ChatTemplateError(.unsupportedFeature, "\\N{...} escapes in string literals are not supported", at: location)
            default:
                result.append(scalar)
                result.append(escape)
            }
        }
        return String(result)
    }
}

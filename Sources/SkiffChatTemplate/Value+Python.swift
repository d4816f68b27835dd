/// Python's semantics for values: `==`, ordering, `str()` and `repr()`.
extension Value {
    /// Python `==`: numbers by value (`True == 1 == 1.0`), lists element-wise, dicts by content.
    func pythonEquals(_ other: Value) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none):
            return true
        case (.string(let a), .string(let b)):
            return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case (.dict(let a), .dict(let b)):
            guard a.count == b.count else { return false }
            return a.entries.allSatisfy { entry in
                b[entry.key].map { entry.value.pythonEquals($0) } ?? false
            }
        case (.namespace(let a), .namespace(let b)), (.macro(let a), .macro(let b)),
            (.caller(let a), .caller(let b)):
            return a == b
        case (.builtin(let a), .builtin(let b)):
            return a == b
        default:
            if let a = integerValue, let b = other.integerValue { return a == b }
            if let a = numericValue, let b = other.numericValue { return a == b }
            return false
        }
    }

    /// Python `<` for numbers, strings and lists; other pairs cannot be ordered.
    func pythonLess(than other: Value) throws(ChatTemplateError) -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        case (.list(let a), .list(let b)):
            for (x, y) in zip(a, b) where !x.pythonEquals(y) {
                return try x.pythonLess(than: y)
            }
            return a.count < b.count
        default:
            if let a = integerValue, let b = other.integerValue { return a < b }
            if let a = numericValue, let b = other.numericValue { return a < b }
            if case .undefined(let u) = self { throw ChatTemplateError(.undefinedValue, u.reason) }
            if case .undefined(let u) = other { throw ChatTemplateError(.undefinedValue, u.reason) }
            throw ChatTemplateError(
                .typeMismatch,
                "cannot order '\(typeName)' and '\(other.typeName)' values")
        }
    }

    /// Python `str()`, as `{{ value }}` prints it; undefined prints as nothing.
    func pythonString(limit: Int) throws(ChatTemplateError) -> String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        case .list, .dict:
            var buffer = TextBuffer(limit: limit)
            try writeRepr(into: &buffer)
            return buffer.text
        default: return scalarRepr
        }
    }

    /// Python `repr()`, written into `buffer`.
    func writeRepr(into buffer: inout TextBuffer) throws(ChatTemplateError) {
        switch self {
        case .string(let s):
            try buffer.append(s.pythonRepr)
        case .list(let items):
            try buffer.append("[")
            for (index, item) in items.enumerated() {
                if index > 0 { try buffer.append(", ") }
                try item.writeRepr(into: &buffer)
            }
            try buffer.append("]")
        case .dict(let dict):
            try buffer.append("{")
            for (index, entry) in dict.entries.enumerated() {
                if index > 0 { try buffer.append(", ") }
                try entry.key.value.writeRepr(into: &buffer)
                try buffer.append(": ")
                try entry.value.writeRepr(into: &buffer)
            }
            try buffer.append("}")
        default:
            try buffer.append(scalarRepr)
        }
    }

    /// A short repr for error messages.
    var reprForMessage: String {
        var buffer = TextBuffer(limit: 200)
        do {
            try writeRepr(into: &buffer)
            return buffer.text
        } catch {
            return buffer.text + "..."
        }
    }

    /// `repr()` of values that contain no other values.
    private var scalarRepr: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return pythonFloatRepr(d)
        case .string(let s): return s.pythonRepr
        case .list: return "[...]"
        case .dict: return "{...}"
        case .namespace: return "<Namespace>"
        case .macro, .caller: return "<Macro>"
        case .builtin(let b): return "<built-in function \(b.rawValue)>"
        case .method(_, let name): return "<built-in method \(name)>"
        case .loop(let state): return "<LoopContext \(state.index0 + 1)/\(state.length)>"
        }
    }
}

/// Python's `repr()` of a float: the shortest digits that round-trip, in fixed notation when
/// the exponent is in -4..<16 (always with a fractional part), else in scientific notation.
func pythonFloatRepr(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
    // Swift's description also gives the shortest round-trip digits; only the layout differs.
    let text = "\(value.magnitude)"
    let parts = text.split(separator: "e", maxSplits: 1)
    let mantissa = String(parts[0])
    let exponent = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
    let pointIndex = mantissa.firstIndex(of: ".").map { mantissa.distance(from: mantissa.startIndex, to: $0) }
        ?? mantissa.count
    let allDigits = Array(mantissa.filter { $0 != "." })
    let leadingZeros = allDigits.prefix { $0 == "0" }.count
    var digits = Array(allDigits.dropFirst(leadingZeros))
    while digits.count > 1, digits.last == "0" { digits.removeLast() }
    // value = 0.digits × 10^pointPosition
    let pointPosition = pointIndex - leadingZeros + exponent
    let scientificExponent = pointPosition - 1
    let sign = value < 0 ? "-" : ""
    let digitString = String(digits)
    if scientificExponent >= -4 && scientificExponent < 16 {
        if pointPosition <= 0 {
            return sign + "0." + String(repeating: "0", count: -pointPosition) + digitString
        }
        if pointPosition >= digits.count {
            return sign + digitString + String(repeating: "0", count: pointPosition - digits.count) + ".0"
        }
        return sign + String(digits[..<pointPosition]) + "." + String(digits[pointPosition...])
    }
    let fraction = digits.count > 1 ? "." + String(digits[1...]) : ""
    let magnitude = abs(scientificExponent)
    let exponentDigits = magnitude < 10 ? "0\(magnitude)" : "\(magnitude)"
    return sign + String(digits[0]) + fraction + "e" + (scientificExponent < 0 ? "-" : "+") + exponentDigits
}

extension String {
    /// Python's `repr()` of a string: single quotes unless the text has a single quote and no
    /// double quote; backslash escapes for the quote, backslash and unprintable characters.
    var pythonRepr: String {
        let quote: Unicode.Scalar = unicodeScalars.contains("'") && !unicodeScalars.contains("\"") ? "\"" : "'"
        var result = String(quote)
        for scalar in unicodeScalars {
            switch scalar {
            case quote, "\\": result += "\\" + String(scalar)
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.isPythonPrintable {
                    result.unicodeScalars.append(scalar)
                } else if scalar.value < 0x100 {
                    result += "\\x" + scalar.value.hexDigits(2)
                } else if scalar.value < 0x10000 {
                    result += "\\u" + scalar.value.hexDigits(4)
                } else {
                    result += "\\U" + scalar.value.hexDigits(8)
                }
            }
        }
        result.unicodeScalars.append(quote)
        return result
    }
}

extension Unicode.Scalar {
    /// Python's `str.isprintable()` for one character: not a control, format, surrogate,
    /// private-use, unassigned or separator character (the ASCII space is printable).
    var isPythonPrintable: Bool {
        if self == " " { return true }
        switch properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .spaceSeparator, .lineSeparator, .paragraphSeparator:
            return false
        default:
            return true
        }
    }
}

extension UInt32 {
    /// Lowercase hexadecimal, zero-padded to `width` digits.
    func hexDigits(_ width: Int) -> String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: Swift.max(0, width - digits.count)) + digits
    }
}

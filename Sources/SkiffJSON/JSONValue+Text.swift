extension JSONValue {
    /// The value as compact JSON text: no spaces, members in order, strings escaped as `json.dumps` does with
    /// `ensure_ascii=False` (quote, backslash and control characters only), integers without a fraction,
    /// other numbers in Swift's shortest round-trip form.
    public var jsonText: String {
        var text = ""
        write(to: &text)
        return text
    }

    private func write(to text: inout String) {
        switch self {
        case .null: text += "null"
        case .bool(let value): text += value ? "true" : "false"
        case .int(let value): text += String(value)
        case .double(let value):
            text += value == value.rounded() && abs(value) < 1e16 ? String(Int64(value)) : String(value)
        case .string(let value): JSONValue.writeString(value, to: &text)
        case .array(let items):
            text += "["
            for (i, item) in items.enumerated() {
                if i > 0 { text += "," }
                item.write(to: &text)
            }
            text += "]"
        case .object(let object):
            text += "{"
            for (i, member) in object.enumerated() {
                if i > 0 { text += "," }
                JSONValue.writeString(member.key, to: &text)
                text += ":"
                member.value.write(to: &text)
            }
            text += "}"
        }
    }

    /// `string` as a JSON string literal, quotes included: quote, backslash and control characters escaped, and with
    /// `asciiOnly` every character past ASCII too (`\uXXXX`, surrogate pairs past U+FFFF), as `json.dumps` does with
    /// `ensure_ascii=True`.
    public static func quoted(_ string: String, asciiOnly: Bool = false) -> String {
        var text = ""
        writeString(string, asciiOnly: asciiOnly, to: &text)
        return text
    }

    private static func writeString(_ string: String, asciiOnly: Bool = false, to text: inout String) {
        func hex(_ value: UInt32) -> String {
            let digits = String(value, radix: 16)
            return "\\u" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{08}": text += "\\b"
            case "\u{0C}": text += "\\f"
            case let control where control.value < 0x20: text += hex(control.value)
            case let wide where asciiOnly && wide.value > 0x7E:
                if wide.value > 0xFFFF {
                    let offset = wide.value - 0x10000
                    text += hex(0xD800 + (offset >> 10)) + hex(0xDC00 + (offset & 0x3FF))
                } else {
                    text += hex(wide.value)
                }
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

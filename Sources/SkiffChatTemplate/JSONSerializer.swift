import SkiffJSON

/// The `tojson` filter as transformers defines it: Python's
/// `json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)`.
/// Non-ASCII text is written as is; undefined values, macros and namespaces cannot be written.
struct JSONSerializer {
    /// The indentation unit, or nil for single-line output.
    var indent: String?
    var itemSeparator: String
    var keySeparator: String
    var sortKeys = false
    var asciiOnly = false

    init(indent: String?, separators: (item: String, key: String)? = nil, sortKeys: Bool = false, asciiOnly: Bool = false) {
        self.indent = indent
        self.itemSeparator = separators?.item ?? (indent == nil ? ", " : ",")
        self.keySeparator = separators?.key ?? ": "
        self.sortKeys = sortKeys
        self.asciiOnly = asciiOnly
    }

    func write(_ value: Value, into buffer: inout TextBuffer, level: Int = 0) throws(ChatTemplateError) {
        switch value {
        case .none: try buffer.append("null")
        case .bool(let b): try buffer.append(b ? "true" : "false")
        case .int(let i): try buffer.append(String(i))
        case .double(let d):
            if d.isNaN {
                try buffer.append("NaN")
            } else if d.isInfinite {
                try buffer.append(d < 0 ? "-Infinity" : "Infinity")
            } else {
                try buffer.append(pythonFloatRepr(d))
            }
        case .string(let s): try buffer.append(quoted(s))
        case .list(let items):
            guard !items.isEmpty else { return try buffer.append("[]") }
            try buffer.append("[")
            for (index, item) in items.enumerated() {
                try buffer.append(index == 0 ? newline(level + 1) : itemSeparator + newline(level + 1))
                try write(item, into: &buffer, level: level + 1)
            }
            try buffer.append(newline(level) + "]")
        case .dict(let dict):
            guard dict.count > 0 else { return try buffer.append("{}") }
            var entries = dict.entries
            if sortKeys {
                entries.sort { $0.key.text.unicodeScalars.lexicographicallyPrecedes($1.key.text.unicodeScalars) }
            }
            try buffer.append("{")
            for (index, entry) in entries.enumerated() {
                try buffer.append(index == 0 ? newline(level + 1) : itemSeparator + newline(level + 1))
                try buffer.append(quoted(entry.key.text) + keySeparator)
                try write(entry.value, into: &buffer, level: level + 1)
            }
            try buffer.append(newline(level) + "}")
        case .undefined(let undefined):
            throw ChatTemplateError(.undefinedValue, "cannot write an undefined value as JSON (\(undefined.reason))")
        default:
            throw ChatTemplateError(.typeMismatch, "Object of type \(value.typeName) is not JSON serializable")
        }
    }

    /// A line break and indentation for `level`, when indenting.
    private func newline(_ level: Int) -> String {
        guard let indent else { return "" }
        return "\n" + String(repeating: indent, count: level)
    }

    private func quoted(_ text: String) -> String {
        JSONValue.quoted(text, asciiOnly: asciiOnly)
    }
}

import Foundation

/// Names of filters: the ones implemented here, and the other Jinja built-ins, which parse but
/// fail when used (so a template that only uses them in a branch never taken still works).
enum FilterName {
    static let implemented: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
        "first", "float", "forceescape", "indent", "int", "items", "join", "last", "length", "list", "lower",
        "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
        "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount",
    ]
    static let otherJinjaFilters: Set<String> = [
        "filesizeformat", "format", "groupby", "pprint", "random", "slice", "striptags", "truncate",
        "urlencode", "urlize", "wordwrap", "xmlattr",
    ]

    static func isKnown(_ name: String) -> Bool {
        implemented.contains(name) || otherJinjaFilters.contains(name)
    }
}

extension Interpreter {
    @inline(never)
    mutating func applyFilter(_ name: String, to value: Value, _ arguments: CallArguments) throws(ChatTemplateError) -> Value {
        let function = "filter '\(name)'"
        func bind(_ parameters: [String]) throws(ChatTemplateError) -> [Value?] {
            try arguments.bind(parameters, in: function)
        }
        switch name {
        case "abs":
            _ = try bind([])
            switch value {
            case .double(let d): return .double(abs(d))
            default:
                guard let i = value.integerValue, i != .min else { throw unaryTypeError("abs", value) }
                return .int(abs(i))
            }
        case "attr":
            guard case .string(let attributeName)? = try bind(["name"])[0] else {
                throw ChatTemplateError(.invalidArgument, "filter 'attr' needs an attribute name")
            }
            // Python's getattr: a dictionary's keys are not attributes.
            if case .dict = value {
                return try Methods.bound(attributeName, on: value) ?? .undefined(.attribute(attributeName, of: value))
            }
            return try attribute(attributeName, of: value)
        case "batch":
            let bound = try bind(["linecount", "fill_with"])
            guard let size = bound[0]?.integerValue, size > 0 else {
                throw ChatTemplateError(.invalidArgument, "filter 'batch' needs a positive size")
            }
            if bound[1] != nil { try checkCount(size) }
            let items = try iterate(value)
            var batches: [Value] = []
            var start = 0
            while start < items.count {
                var batch = Array(items[start..<min(start + size, items.count)])
                if let fill = bound[1], batch.count < size {
                    batch += Array(repeating: fill, count: size - batch.count)
                }
                batches.append(.list(batch))
                start += size
            }
            return .list(batches)
        case "capitalize", "lower", "upper", "title", "trim", "wordcount", "escape", "e", "forceescape":
            let text = try value.pythonString(limit: limits.maxTextBytes)
            try charge(bytes: text.utf8.count)
            return try transformText(name, text, try bind(name == "trim" ? ["chars"] : []))
        case "center":
            let width = try bind(["width"])[0]?.integerValue ?? 80
            let text = try value.pythonString(limit: limits.maxTextBytes)
            let length = text.unicodeScalars.count
            guard width > length else { return .string(text) }
            guard width <= limits.maxTextBytes else { throw ChatTemplateError(.limitExceeded, "filter 'center' width is too large") }
            let total = width - length
            let left = total / 2 + (total & width & 1)
            return .string(String(repeating: " ", count: left) + text + String(repeating: " ", count: total - left))
        case "count", "length":
            _ = try bind([])
            return .int(try length(of: value))
        case "default", "d":
            let bound = try bind(["default_value", "boolean"])
            let useDefault = (bound[1]?.isTruthy ?? false) ? !value.isTruthy : value.isUndefined
            return useDefault ? bound[0] ?? .string("") : value
        case "dictsort":
            return try dictsort(value, try bind(["case_sensitive", "by", "reverse"]))
        case "first", "last":
            _ = try bind([])
            var items = try iterate(value)
            if name == "last" { items.reverse() }
            return items.first ?? .undefined(Undefined(reason: "no \(name) item, the sequence was empty"))
        case "float":
            let fallback = try bind(["default"])[0] ?? .double(0)
            return try toFloat(value) ?? fallback
        case "int":
            let bound = try bind(["default", "base"])
            return try toInt(value, base: bound[1]?.integerValue ?? 10) ?? bound[0] ?? .int(0)
        case "indent":
            return try indent(value, try bind(["width", "first", "blank"]))
        case "items":
            _ = try bind([])
            switch value {
            case .dict(let dict): return .list(dict.entries.map { .list([$0.key.value, $0.value]) })
            case .undefined: return .list([])
            default: throw ChatTemplateError(.typeMismatch, "filter 'items' needs a mapping, got '\(value.typeName)'")
            }
        case "join":
            let bound = try bind(["d", "attribute"])
            let separator = try (bound[0] ?? .string("")).pythonString(limit: limits.maxTextBytes)
            var items = try iterate(value)
            if let attributeName = bound[1] { items = try items.map { item throws(ChatTemplateError) in try lookupPath(attributeName, in: item) } }
            var buffer = TextBuffer(limit: limits.maxTextBytes)
            for (index, item) in items.enumerated() {
                if index > 0 { try buffer.append(separator) }
                try buffer.append(try item.pythonString(limit: limits.maxTextBytes))
            }
            try charge(bytes: buffer.text.utf8.count)
            return .string(buffer.text)
        case "list":
            _ = try bind([])
            return .list(try iterate(value))
        case "map":
            return try map(value, arguments)
        case "max", "min":
            let bound = try bind(["case_sensitive", "attribute"])
            let sorted = try stableSorted(
                try iterate(value), reversed: false, caseSensitive: bound[0]?.isTruthy ?? false, attribute: bound[1])
            return (name == "min" ? sorted.first : sorted.last)
                ?? .undefined(Undefined(reason: "no \(name) item, the sequence was empty"))
        case "reject", "select", "rejectattr", "selectattr":
            return try select(value, name, arguments)
        case "replace":
            let bound = try bind(["old", "new", "count"])
            let text = try value.pythonString(limit: limits.maxTextBytes)
            guard let old = bound[0], let new = bound[1] else { throw missingArgument("old/new", function) }
            return try replaced(
                text, try old.pythonString(limit: limits.maxTextBytes), try new.pythonString(limit: limits.maxTextBytes),
                count: bound[2]?.integerValue ?? -1)
        case "reverse":
            _ = try bind([])
            if case .string(let text) = value { return .string(String(scalars: text.unicodeScalars.reversed())) }
            return .list(try iterate(value).reversed())
        case "round":
            return try round(value, try bind(["precision", "method"]))
        case "safe":
            _ = try bind([])
            return value
        case "sort":
            let bound = try bind(["reverse", "case_sensitive", "attribute"])
            return .list(
                try stableSorted(
                    try iterate(value), reversed: bound[0]?.isTruthy ?? false,
                    caseSensitive: bound[1]?.isTruthy ?? false, attribute: bound[2]))
        case "string":
            _ = try bind([])
            return .string(try value.pythonString(limit: limits.maxTextBytes))
        case "sum":
            let bound = try bind(["attribute", "start"])
            var total = bound[1] ?? .int(0)
            for item in try iterate(value) {
                let term = try bound[0].map { path throws(ChatTemplateError) in try lookupPath(path, in: item) } ?? item
                total = try applyBinary(.add, total, term)
            }
            return total
        case "tojson":
            return try toJSON(value, try bind(["indent", "ensure_ascii", "separators", "sort_keys"]))
        case "unique":
            let bound = try bind(["case_sensitive", "attribute"])
            var kept: [Value] = []
            var seen: [Value] = []
            for item in try iterate(value) {
                let key = try comparisonKey(item, caseSensitive: bound[0]?.isTruthy ?? false, attribute: bound[1])
                try charge(seen.count / 64 + 1)
                if !seen.contains(where: { $0.pythonEquals(key) }) {
                    seen.append(key)
                    kept.append(item)
                }
            }
            return .list(kept)
        default:
            guard FilterName.isKnown(name) else { throw ChatTemplateError(.syntax, "unknown filter '\(name)'") }
            throw ChatTemplateError(.unsupportedFeature, "filter '\(name)' is not supported by this renderer")
        }
    }

    private func transformText(_ name: String, _ text: String, _ bound: [Value?]) throws(ChatTemplateError) -> Value {
        switch name {
        case "capitalize": return .string(text.pythonCapitalize)
        case "lower": return .string(text.lowercased())
        case "upper": return .string(text.uppercased())
        case "title": return .string(text.jinjaTitle)
        case "trim":
            var characters: String?
            if let chars = bound.first ?? nil, !(chars.isUndefined) {
                if case .none = chars {} else { characters = try chars.pythonString(limit: limits.maxTextBytes) }
            }
            return .string(text.pythonStrip(characters))
        case "wordcount":
            var count = 0
            var inWord = false
            for scalar in text.unicodeScalars {
                let isWord = scalar == "_" || scalar.properties.isAlphabetic || scalar.properties.numericType != nil
                if isWord && !inWord { count += 1 }
                inWord = isWord
            }
            return .int(count)
        default:
            var escaped = ""
            for character in text.unicodeScalars {
                switch character {
                case "&": escaped += "&amp;"
                case "<": escaped += "&lt;"
                case ">": escaped += "&gt;"
                case "\"": escaped += "&#34;"
                case "'": escaped += "&#39;"
                default: escaped.unicodeScalars.append(character)
                }
            }
            return .string(escaped)
        }
    }

    func length(of value: Value) throws(ChatTemplateError) -> Int {
        switch value {
        case .string(let text): return text.unicodeScalars.count
        case .list(let items): return items.count
        case .dict(let dict): return dict.count
        case .undefined: return 0
        case .loop(let state): return state.length
        default: throw ChatTemplateError(.typeMismatch, "object of type '\(value.typeName)' has no len()")
        }
    }

    /// `attribute='a.b'` lookups used by `map`, `sort`, `selectattr` and friends; `a.0` indexes.
    func lookupPath(_ path: Value, in item: Value) throws(ChatTemplateError) -> Value {
        if let index = path.integerValue { return try self.item(.int(index), of: item) }
        var current = item
        for part in try path.pythonString(limit: limits.maxTextBytes).split(separator: ".", omittingEmptySubsequences: false) {
            let key: Value = Int(part).map(Value.int) ?? .string(String(part))
            current = try self.item(key, of: current)
        }
        return current
    }

    private func comparisonKey(_ item: Value, caseSensitive: Bool, attribute: Value?) throws(ChatTemplateError) -> Value {
        let key = try attribute.map { path throws(ChatTemplateError) in try lookupPath(path, in: item) } ?? item
        if !caseSensitive, case .string(let text) = key { return .string(text.lowercased()) }
        return key
    }

    /// Python's stable `sorted()`, by an optional attribute, optionally ignoring case.
    private mutating func stableSorted(
        _ items: [Value], reversed: Bool, caseSensitive: Bool, attribute: Value?
    ) throws(ChatTemplateError) -> [Value] {
        var keyed: [(key: Value, item: Value)] = []
        for item in items {
            keyed.append((try comparisonKey(item, caseSensitive: caseSensitive, attribute: attribute), item))
        }
        try charge(items.count)
        return try mergeSort(keyed, reversed: reversed).map(\.item)
    }

    private func mergeSort(_ items: [(key: Value, item: Value)], reversed: Bool) throws(ChatTemplateError) -> [(key: Value, item: Value)] {
        guard items.count > 1 else { return items }
        let middle = items.count / 2
        let left = try mergeSort(Array(items[..<middle]), reversed: reversed)
        let right = try mergeSort(Array(items[middle...]), reversed: reversed)
        var merged: [(key: Value, item: Value)] = []
        merged.reserveCapacity(items.count)
        var i = 0
        var j = 0
        while i < left.count, j < right.count {
            // Take from the right only when strictly before the left, so equal keys keep their order.
            let rightFirst = reversed
                ? try left[i].key.pythonLess(than: right[j].key)
                : try right[j].key.pythonLess(than: left[i].key)
            if rightFirst {
                merged.append(right[j])
                j += 1
            } else {
                merged.append(left[i])
                i += 1
            }
        }
        merged += left[i...]
        merged += right[j...]
        return merged
    }

    private mutating func dictsort(_ value: Value, _ bound: [Value?]) throws(ChatTemplateError) -> Value {
        guard case .dict(let dict) = value else {
            throw ChatTemplateError(.typeMismatch, "filter 'dictsort' needs a mapping, got '\(value.typeName)'")
        }
        let byValue: Bool
        switch bound[1] {
        case nil, .string("key")?: byValue = false
        case .string("value")?: byValue = true
        default: throw ChatTemplateError(.invalidArgument, "filter 'dictsort' sorts by 'key' or 'value'")
        }
        let pairs = dict.entries.map { Value.list([$0.key.value, $0.value]) }
        return .list(
            try stableSorted(
                pairs, reversed: bound[2]?.isTruthy ?? false, caseSensitive: bound[0]?.isTruthy ?? false,
                attribute: .int(byValue ? 1 : 0)))
    }

    private mutating func map(_ value: Value, _ arguments: CallArguments) throws(ChatTemplateError) -> Value {
        // Like Jinja, a false value (none, 0, "") maps to nothing instead of failing to iterate.
        let items = value.isTruthy ? try iterate(value) : []
        if let attributeArgument = arguments.keyword.first(where: { $0.name == "attribute" }) {
            let fallback = arguments.keyword.first { $0.name == "default" }?.value
            return .list(
                try items.map { item throws(ChatTemplateError) in
                    let result = try lookupPath(attributeArgument.value, in: item)
                    return result.isUndefined ? fallback ?? result : result
                })
        }
        guard case .string(let filterName)? = arguments.positional.first else {
            throw ChatTemplateError(.invalidArgument, "filter 'map' needs a filter name or attribute=")
        }
        guard FilterName.isKnown(filterName) else {
            throw ChatTemplateError(.invalidArgument, "unknown filter '\(filterName)'")
        }
        let rest = CallArguments(positional: Array(arguments.positional.dropFirst()), keyword: arguments.keyword)
        var results: [Value] = []
        for item in items { results.append(try applyFilter(filterName, to: item, rest)) }
        return .list(results)
    }

    private mutating func select(_ value: Value, _ name: String, _ arguments: CallArguments) throws(ChatTemplateError) -> Value {
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        var positional = arguments.positional
        var attributePath: Value?
        if byAttribute {
            guard !positional.isEmpty else { throw ChatTemplateError(.invalidArgument, "filter '\(name)' needs an attribute name") }
            attributePath = positional.removeFirst()
        }
        var testName: String?
        if !positional.isEmpty {
            guard case .string(let test) = positional.removeFirst() else {
                throw ChatTemplateError(.invalidArgument, "filter '\(name)' needs a test name")
            }
            guard TestName.isKnown(test) else { throw ChatTemplateError(.invalidArgument, "unknown test '\(test)'") }
            testName = test
        }
        let testArguments = CallArguments(positional: positional, keyword: arguments.keyword)
        var kept: [Value] = []
        for item in value.isTruthy ? try iterate(value) : [] {
            let subject = try attributePath.map { path throws(ChatTemplateError) in try lookupPath(path, in: item) } ?? item
            let passes = try testName.map { test throws(ChatTemplateError) in try applyTest(test, to: subject, testArguments) }
                ?? subject.isTruthy
            if passes == keep { kept.append(item) }
        }
        return .list(kept)
    }

    private func indent(_ value: Value, _ bound: [Value?]) throws(ChatTemplateError) -> Value {
        let text = try value.pythonString(limit: limits.maxTextBytes)
        var indentation = "    "
        if let width = bound[0] {
            if case .string(let unit) = width {
                indentation = unit
            } else if let count = width.integerValue {
                guard count <= 1024 else { throw ChatTemplateError(.invalidArgument, "filter 'indent' width is too large") }
                indentation = String(repeating: " ", count: max(0, count))
            }
        }
        let first = bound[1]?.isTruthy ?? false
        let blank = bound[2]?.isTruthy ?? false
        var lines = (text + "\n").pythonLines()
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                result += "\n" + lines.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        if first { result = indentation + result }
        guard result.utf8.count <= limits.maxTextBytes else {
            throw ChatTemplateError(.limitExceeded, "string would be longer than the limit of \(limits.maxTextBytes) bytes")
        }
        return .string(result)
    }

    private func toFloat(_ value: Value) throws(ChatTemplateError) -> Value? {
        switch value {
        case .double: return value
        case .string(let text):
            let trimmed = text.pythonStrip().replacingOccurrences(of: "_", with: "")
            switch trimmed.lowercased() {
            case "inf", "+inf", "infinity", "+infinity": return .double(.infinity)
            case "-inf", "-infinity": return .double(-.infinity)
            case "nan", "+nan", "-nan": return .double(.nan)
            default:
                // Only decimal notation: Swift would also read hexadecimal floats, Python does not.
                guard trimmed.unicodeScalars.allSatisfy({ "0123456789.eE+-".unicodeScalars.contains($0) }) else { return nil }
                return Double(trimmed).map(Value.double)
            }
        default:
            return value.numericValue.map(Value.double)
        }
    }

    private func toInt(_ value: Value, base: Int) throws(ChatTemplateError) -> Value? {
        switch value {
        case .string(let text):
            var digits = text.pythonStrip().replacingOccurrences(of: "_", with: "")
            var negative = false
            if digits.hasPrefix("-") || digits.hasPrefix("+") {
                negative = digits.hasPrefix("-")
                digits.removeFirst()
            }
            let prefixes = [16: "0x", 8: "0o", 2: "0b"]
            if let prefix = prefixes[base], digits.lowercased().hasPrefix(prefix) { digits.removeFirst(2) }
            if (2...36).contains(base), let number = Int(digits, radix: base), !digits.isEmpty {
                return .int(negative ? -number : number)
            }
            guard case .double(let d)? = try toFloat(value) else { return nil }
            return try toInt(.double(d), base: base)
        case .double(let d):
            guard d.isFinite else {
                throw ChatTemplateError(.invalidArgument, "cannot convert float \(pythonFloatRepr(d)) to integer")
            }
            guard let number = Int(exactly: d.rounded(.towardZero)) else {
                throw ChatTemplateError(.limitExceeded, "integer result is too large for 64 bits")
            }
            return .int(number)
        default:
            return value.integerValue.map(Value.int)
        }
    }

    /// Jinja's `round`: `common` rounds half to even on the exact binary value, as Python's
    /// `round` does; `floor` and `ceil` round down or up. Integers stay integers for `common`.
    private func round(_ value: Value, _ bound: [Value?]) throws(ChatTemplateError) -> Value {
        let precision = bound[0]?.integerValue ?? 0
        let method: String
        switch bound[1] {
        case nil: method = "common"
        case .string(let name)? where ["common", "floor", "ceil"].contains(name): method = name
        default: throw ChatTemplateError(.invalidArgument, "filter 'round' method must be 'common', 'ceil' or 'floor'")
        }
        guard let number = value.numericValue else {
            throw ChatTemplateError(.typeMismatch, "filter 'round' needs a number, got '\(value.typeName)'")
        }
        if method == "common", let integer = value.integerValue, precision >= 0 { return .int(integer) }
        guard precision.magnitude <= 300 else { return .double(number) }
        let scale = pow(10.0, Double(precision))
        switch method {
        case "floor": return .double((number * scale).rounded(.down) / scale)
        case "ceil": return .double((number * scale).rounded(.up) / scale)
        default:
            guard number.isFinite else { return .double(number) }
            guard precision >= 0 else { return .double((number * scale).rounded(.toNearestOrEven) / scale) }
            let text = String(format: "%.\(min(precision, 100))f", number)
            return .double(Double(text) ?? number)
        }
    }

    private mutating func toJSON(_ value: Value, _ bound: [Value?]) throws(ChatTemplateError) -> Value {
        var indentation: String?
        switch bound[0] {
        case nil, .none?: indentation = nil
        case .string(let unit)?: indentation = unit
        case let width?:
            guard let count = width.integerValue, count <= 1024 else {
                throw ChatTemplateError(.invalidArgument, "filter 'tojson' indent must be a small integer or a string")
            }
            indentation = String(repeating: " ", count: max(0, count))
        }
        var separators: (item: String, key: String)?
        if let pair = bound[2] {
            if case .none = pair {} else {
                guard case .list(let parts) = pair, parts.count == 2,
                    case .string(let item) = parts[0], case .string(let key) = parts[1]
                else {
                    throw ChatTemplateError(.invalidArgument, "filter 'tojson' separators must be two strings")
                }
                separators = (item, key)
            }
        }
        let serializer = JSONSerializer(
            indent: indentation, separators: separators, sortKeys: bound[3]?.isTruthy ?? false,
            asciiOnly: bound[1]?.isTruthy ?? false)
        var buffer = TextBuffer(limit: limits.maxTextBytes)
        try serializer.write(value, into: &buffer)
        try charge(bytes: buffer.text.utf8.count)
        return .string(buffer.text)
    }
}

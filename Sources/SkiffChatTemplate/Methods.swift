/// Python methods templates call on values (`content.strip()`, `message.get('x')`, `d.items()`),
/// limited as in Jinja's immutable sandbox: methods that would change a list or dict are refused.
enum Methods {
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
        "upper", "lower", "title", "capitalize", "replace", "find", "count", "join",
        "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "format",
    ]
    static let dictMethods: Set<String> = ["get", "items", "keys", "values", "copy"]
    static let listMethods: Set<String> = ["index", "count", "copy"]
    static let mutatingListMethods: Set<String> = ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"]
    static let mutatingDictMethods: Set<String> = ["pop", "popitem", "setdefault", "update", "clear"]

    /// The method `name` bound to `object`, nil if the type has no such method; throws for
    /// methods the sandbox forbids.
    static func bound(_ name: String, on object: Value) throws(ChatTemplateError) -> Value? {
        let (safe, unsafe): (Set<String>, Set<String>)
        switch object {
        case .string: (safe, unsafe) = (stringMethods, [])
        case .dict: (safe, unsafe) = (dictMethods, mutatingDictMethods)
        case .list: (safe, unsafe) = (listMethods, mutatingListMethods)
        default: return nil
        }
        if unsafe.contains(name) {
            throw ChatTemplateError(
                .unsupportedFeature,
                "access to attribute '\(name)' of '\(object.typeName)' object is unsafe: templates cannot modify values")
        }
        return safe.contains(name) ? .method(receiver: object, name: name) : nil
    }
}

extension Interpreter {
    @inline(never)
    mutating func callMethod(_ name: String, on receiver: Value, _ arguments: CallArguments) throws(ChatTemplateError) -> Value {
        let function = "\(receiver.typeName).\(name)()"
        switch receiver {
        case .string(let text):
            return try callStringMethod(name, on: text, arguments, function: function)
        case .dict(let dict):
            switch name {
            case "get":
                let bound = try arguments.bind(["key", "default"], in: function)
                guard let key = bound[0] else { throw missingArgument("key", function) }
                if let dictKey = DictKey(key), let value = dict[dictKey] { return value }
                return bound[1] ?? .none
            case "items":
                _ = try arguments.bind([], in: function)
                return .list(dict.entries.map { .list([$0.key.value, $0.value]) })
            case "keys":
                _ = try arguments.bind([], in: function)
                return .list(dict.keys.map(\.value))
            case "values":
                _ = try arguments.bind([], in: function)
                return .list(dict.values)
            default:
                _ = try arguments.bind([], in: function)
                return receiver
            }
        case .list(let items):
            switch name {
            case "index":
                let bound = try arguments.bind(["value"], in: function)
                guard let value = bound[0] else { throw missingArgument("value", function) }
                guard let index = items.firstIndex(where: { $0.pythonEquals(value) }) else {
                    throw ChatTemplateError(.invalidArgument, "\(value.reprForMessage) is not in list")
                }
                return .int(index)
            case "count":
                let bound = try arguments.bind(["value"], in: function)
                guard let value = bound[0] else { throw missingArgument("value", function) }
                return .int(items.count { $0.pythonEquals(value) })
            default:
                _ = try arguments.bind([], in: function)
                return receiver
            }
        case .loop(let state) where name == "cycle":
            guard !arguments.positional.isEmpty else {
                throw ChatTemplateError(.invalidArgument, "loop.cycle() needs at least one argument")
            }
            return arguments.positional[state.index0 % arguments.positional.count]
        default:
            throw ChatTemplateError(.unsupportedFeature, "method '\(name)' of '\(receiver.typeName)' is not supported")
        }
    }

    private mutating func callStringMethod(
        _ name: String, on text: String, _ arguments: CallArguments, function: String
    ) throws(ChatTemplateError) -> Value {
        func string(_ value: Value?, _ parameter: String) throws(ChatTemplateError) -> String? {
            guard let value else { return nil }
            if case .none = value { return nil }
            guard case .string(let text) = value else {
                throw ChatTemplateError(
                    .typeMismatch, "\(function) argument '\(parameter)' must be a string, not '\(value.typeName)'")
            }
            return text
        }
        func integer(_ value: Value?, _ parameter: String, default fallback: Int) throws(ChatTemplateError) -> Int {
            guard let value else { return fallback }
            guard let number = value.integerValue else {
                throw ChatTemplateError(
                    .typeMismatch, "\(function) argument '\(parameter)' must be an integer, not '\(value.typeName)'")
            }
            return number
        }
        switch name {
        case "strip", "lstrip", "rstrip":
            let characters = try string(try arguments.bind(["chars"], in: function)[0], "chars")
            return .string(text.pythonStrip(characters, leading: name != "rstrip", trailing: name != "lstrip"))
        case "split", "rsplit":
            let bound = try arguments.bind(["sep", "maxsplit"], in: function)
            let separator = try string(bound[0], "sep")
            let maxSplit = try integer(bound[1], "maxsplit", default: -1)
            try charge(bytes: text.utf8.count)
            if name == "split" || maxSplit < 0 {
                return .list(try text.pythonSplit(separator: separator, maxSplit: maxSplit).map(Value.string))
            }
            let reversedText = String(scalars: text.unicodeScalars.reversed())
            let reversedSeparator = separator.map { String(scalars: $0.unicodeScalars.reversed()) }
            let parts = try reversedText.pythonSplit(separator: reversedSeparator, maxSplit: maxSplit)
            return .list(parts.reversed().map { .string(String(scalars: $0.unicodeScalars.reversed())) })
        case "splitlines":
            _ = try arguments.bind([], in: function)
            return .list(text.pythonLines().map(Value.string))
        case "startswith", "endswith":
            let bound = try arguments.bind(["prefix", "start", "end"], in: function)
            guard let affix = bound[0] else { throw missingArgument("prefix", function) }
            let subject = try slice(.string(text), start: bound[1], stop: bound[2], step: nil)
            guard case .string(let part) = subject else { return .bool(false) }
            let candidates: [Value]
            if case .list(let items) = affix { candidates = items } else { candidates = [affix] }
            for candidate in candidates {
                guard let affixText = try string(candidate, "prefix") else {
                    throw ChatTemplateError(.typeMismatch, "\(function) needs a string or a list of strings")
                }
                if name == "startswith" ? part.pythonHasPrefix(affixText) : part.pythonHasSuffix(affixText) {
                    return .bool(true)
                }
            }
            return .bool(false)
        case "upper", "lower", "title", "capitalize":
            _ = try arguments.bind([], in: function)
            try charge(bytes: text.utf8.count)
            switch name {
            case "upper": return .string(text.uppercased())
            case "lower": return .string(text.lowercased())
            case "title": return .string(text.pythonTitle)
            default: return .string(text.pythonCapitalize)
            }
        case "replace":
            let bound = try arguments.bind(["old", "new", "count"], in: function)
            guard let old = try string(bound[0], "old"), let new = try string(bound[1], "new") else {
                throw missingArgument("old/new", function)
            }
            return try replaced(text, old, new, count: try integer(bound[2], "count", default: -1))
        case "find", "count":
            let bound = try arguments.bind(["sub", "start", "end"], in: function)
            guard let needle = try string(bound[0], "sub") else { throw missingArgument("sub", function) }
            let start = try integer(bound[1], "start", default: 0)
            let subject = try slice(.string(text), start: bound[1], stop: bound[2], step: nil)
            guard case .string(let part) = subject else { return .int(-1) }
            if name == "count" { return .int(part.pythonCount(needle)) }
            let found = part.pythonFind(needle)
            let offset = start < 0 ? max(0, start + text.unicodeScalars.count) : start
            return .int(found < 0 ? -1 : found + offset)
        case "join":
            guard let items = try arguments.bind(["iterable"], in: function)[0] else {
                throw missingArgument("iterable", function)
            }
            var buffer = TextBuffer(limit: limits.maxTextBytes)
            for (index, item) in try iterate(items).enumerated() {
                guard case .string(let piece) = item else {
                    throw ChatTemplateError(
                        .typeMismatch, "sequence item \(index): expected str instance, \(item.typeName) found")
                }
                if index > 0 { try buffer.append(text) }
                try buffer.append(piece)
            }
            try charge(bytes: buffer.text.utf8.count)
            return .string(buffer.text)
        case "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper":
            _ = try arguments.bind([], in: function)
            return .bool(text.pythonCharacterTest(name))
        case "format":
            return try format(text, arguments)
        default:
            throw ChatTemplateError(.unsupportedFeature, "str.\(name)() is not supported")
        }
    }

    /// Python's `str.format` for fields `{}`, `{0}` and `{name}` with an optional `!r`/`!s`
    /// conversion; `{{` and `}}` are literal braces. Format specifications (`{:>3}`) are not supported.
    private mutating func format(_ template: String, _ arguments: CallArguments) throws(ChatTemplateError) -> Value {
        var buffer = TextBuffer(limit: limits.maxTextBytes)
        var automaticIndex: Int?
        var manualNumbering = false
        var scalars = template.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            if scalar == "}" {
                guard scalars.next() == "}" else {
                    throw ChatTemplateError(.invalidArgument, "single '}' encountered in format string")
                }
                try buffer.append("}")
                continue
            }
            guard scalar == "{" else {
                try buffer.append(String(scalar))
                continue
            }
            var field = ""
            var closed = false
            while let next = scalars.next() {
                if next == "}" {
                    closed = true
                    break
                }
                if next == "{", field.isEmpty {
                    break
                }
                field.unicodeScalars.append(next)
            }
            if !closed, field.isEmpty {
                try buffer.append("{")
                continue
            }
            guard closed else { throw ChatTemplateError(.invalidArgument, "unmatched '{' in format string") }
            var conversion: Character?
            if let bang = field.firstIndex(of: "!") {
                conversion = field[field.index(after: bang)...].first
                field = String(field[..<bang])
            }
            guard !field.contains(":"), !field.contains("."), !field.contains("[") else {
                throw ChatTemplateError(
                    .unsupportedFeature, "str.format() supports only {}, {0} and {name} fields, not {\(field)}")
            }
            let value: Value
            if field.isEmpty {
                guard !manualNumbering else {
                    throw ChatTemplateError(
                        .invalidArgument, "cannot switch from manual field specification to automatic field numbering")
                }
                let index = automaticIndex ?? 0
                automaticIndex = index + 1
                guard arguments.positional.indices.contains(index) else {
                    throw ChatTemplateError(.invalidArgument, "replacement index \(index) out of range for positional args tuple")
                }
                value = arguments.positional[index]
            } else if let index = Int(field) {
                guard automaticIndex == nil else {
                    throw ChatTemplateError(
                        .invalidArgument, "cannot switch from automatic field numbering to manual field specification")
                }
                manualNumbering = true
                guard arguments.positional.indices.contains(index) else {
                    throw ChatTemplateError(.invalidArgument, "replacement index \(index) out of range for positional args tuple")
                }
                value = arguments.positional[index]
            } else {
                guard let named = arguments.keyword.first(where: { $0.name == field })?.value else {
                    throw ChatTemplateError(.invalidArgument, "str.format() is missing the keyword argument '\(field)'")
                }
                value = named
            }
            if conversion == "r" || conversion == "a" {
                try value.writeRepr(into: &buffer)
            } else {
                try buffer.append(try value.pythonString(limit: limits.maxTextBytes))
            }
        }
        try charge(bytes: buffer.text.utf8.count)
        return .string(buffer.text)
    }

    mutating func replaced(_ text: String, _ old: String, _ new: String, count: Int) throws(ChatTemplateError) -> Value {
        let occurrences = old.isEmpty ? text.unicodeScalars.count + 1 : text.pythonCount(old)
        let replacements = count < 0 ? occurrences : min(count, occurrences)
        let (growth, overflow) = replacements.multipliedReportingOverflow(by: new.utf8.count)
        guard !overflow, text.utf8.count + growth <= limits.maxTextBytes else {
            throw ChatTemplateError(.limitExceeded, "string would be longer than the limit of \(limits.maxTextBytes) bytes")
        }
        try charge(bytes: text.utf8.count + growth)
        return .string(text.pythonReplace(old, with: new, count: count))
    }

    func missingArgument(_ name: String, _ function: String) -> ChatTemplateError {
        ChatTemplateError(.invalidArgument, "\(function) is missing its '\(name)' argument")
    }
}

extension String {
    /// Python's `splitlines()` without line ends.
    func pythonLines() -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var previousWasReturn = false
        for scalar in unicodeScalars {
            if scalar == "\n", previousWasReturn {
                previousWasReturn = false
                continue
            }
            previousWasReturn = scalar == "\r"
            switch scalar.value {
            case 0x0A...0x0D, 0x1C...0x1E, 0x85, 0x2028, 0x2029:
                lines.append(String(current))
                current = String.UnicodeScalarView()
            default:
                current.append(scalar)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    /// Python's `isdigit`, `isalpha`, `isalnum`, `isspace`, `islower`, `isupper`.
    func pythonCharacterTest(_ name: String) -> Bool {
        let all = Array(unicodeScalars)
        switch name {
        case "islower", "isupper":
            let cased = all.filter { $0.properties.isCased }
            guard !cased.isEmpty else { return false }
            return cased.allSatisfy { name == "islower" ? !$0.properties.changesWhenLowercased : !$0.properties.changesWhenUppercased }
        default:
            guard !all.isEmpty else { return false }
            return all.allSatisfy { scalar in
                let isDigit = scalar.properties.numericType == .digit || scalar.properties.numericType == .decimal
                let isAlpha = scalar.properties.isAlphabetic
                switch name {
                case "isdigit": return isDigit
                case "isalpha": return isAlpha
                case "isalnum": return isDigit || isAlpha || scalar.properties.numericType != nil
                default: return scalar.isPythonWhitespace
                }
            }
        }
    }
}

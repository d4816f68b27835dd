/// Names of the `is` tests Jinja knows, all implemented (`escaped` is always false here, as
/// nothing is HTML-escaped).
enum TestName {
    static let known: Set<String> = [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even", "false",
        "filter", "float", "ge", ">=", "greaterthan", "gt", ">", "in", "integer", "iterable", "le", "<=",
        "lessthan", "lt", "<", "lower", "mapping", "ne", "!=", "none", "number", "odd", "sameas", "sequence",
        "string", "test", "true", "undefined", "upper",
    ]

    static func isKnown(_ name: String) -> Bool { known.contains(name) }
}

extension Interpreter {
    @inline(never)
    func applyTest(_ name: String, to value: Value, _ arguments: CallArguments) throws(ChatTemplateError) -> Bool {
        let function = "test '\(name)'"
        func argument() throws(ChatTemplateError) -> Value {
            guard let other = try arguments.bind(["other"], in: function)[0] else {
                throw missingArgument("other", function)
            }
            return other
        }
        func noArguments() throws(ChatTemplateError) {
            _ = try arguments.bind([], in: function)
        }
        switch name {
        case "defined":
            try noArguments()
            return !value.isUndefined
        case "undefined":
            try noArguments()
            return value.isUndefined
        case "none":
            try noArguments()
            if case .none = value { return true }
            return false
        case "boolean", "true", "false":
            try noArguments()
            guard case .bool(let flag) = value else { return false }
            return name == "boolean" || flag == (name == "true")
        case "integer":
            try noArguments()
            if case .int = value { return true }
            return false
        case "float":
            try noArguments()
            if case .double = value { return true }
            return false
        case "number":
            try noArguments()
            return value.numericValue != nil
        case "string":
            try noArguments()
            if case .string = value { return true }
            return false
        case "mapping":
            try noArguments()
            if case .dict = value { return true }
            return false
        case "iterable":
            try noArguments()
            switch value {
            case .string, .list, .dict, .undefined, .loop: return true
            default: return false
            }
        case "sequence":
            try noArguments()
            switch value {
            case .string, .list, .dict, .undefined: return true
            default: return false
            }
        case "callable":
            try noArguments()
            switch value {
            case .macro, .caller, .builtin, .method: return true
            default: return false
            }
        case "lower", "upper":
            try noArguments()
            guard case .string(let text) = value else { return false }
            return text.pythonCharacterTest("is" + name)
        case "escaped":
            try noArguments()
            return false
        case "even", "odd":
            try noArguments()
            let remainder = try arithmetic(.modulo, value, .int(2))
            return remainder.pythonEquals(.int(name == "even" ? 0 : 1))
        case "divisibleby":
            let remainder = try arithmetic(.modulo, value, try argument())
            return remainder.pythonEquals(.int(0))
        case "eq", "equalto", "==": return value.pythonEquals(try argument())
        case "ne", "!=": return !value.pythonEquals(try argument())
        case "lt", "lessthan", "<": return try compare(.less, value, try argument())
        case "le", "<=": return try compare(.lessOrEqual, value, try argument())
        case "gt", "greaterthan", ">": return try compare(.greater, value, try argument())
        case "ge", ">=": return try compare(.greaterOrEqual, value, try argument())
        case "in": return try contains(try argument(), value)
        case "sameas":
            let other = try argument()
            switch (value, other) {
            case (.list, _), (.dict, _), (_, .list), (_, .dict): return false
            default: return value.typeName == other.typeName && value.pythonEquals(other)
            }
        case "filter", "test":
            try noArguments()
            guard case .string(let candidate) = value else { return false }
            return name == "filter" ? FilterName.implemented.contains(candidate) : TestName.isKnown(candidate)
        default:
            throw ChatTemplateError(.syntax, "unknown test '\(name)'")
        }
    }
}

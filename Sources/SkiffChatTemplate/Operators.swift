import Foundation

/// Arithmetic, concatenation, comparison and `in`, with Python's semantics (bool counts as int,
/// `/` gives a float, `//` and `%` round toward negative infinity). Integers are 64-bit: where
/// Python would grow a big integer, this throws `.limitExceeded`.
extension Interpreter {
    func negate(_ value: Value) throws(ChatTemplateError) -> Value {
        switch value {
        case .double(let d): return .double(-d)
        default:
            guard let i = value.integerValue else { throw unaryTypeError("-", value) }
            let (result, overflow) = (0).subtractingReportingOverflow(i)
            guard !overflow else { throw integerOverflow() }
            return .int(result)
        }
    }

    func unaryTypeError(_ op: String, _ value: Value) -> ChatTemplateError {
        if case .undefined(let undefined) = value { return ChatTemplateError(.undefinedValue, undefined.reason) }
        return ChatTemplateError(.typeMismatch, "bad operand type for unary \(op): '\(value.typeName)'")
    }

    private func integerOverflow() -> ChatTemplateError {
        ChatTemplateError(.limitExceeded, "integer result is too large for 64 bits")
    }

    private func operandError(_ op: BinaryOperator, _ left: Value, _ right: Value) -> ChatTemplateError {
        for value in [left, right] {
            if case .undefined(let undefined) = value { return ChatTemplateError(.undefinedValue, undefined.reason) }
        }
        return ChatTemplateError(
            .typeMismatch,
            "unsupported operand types for \(op.rawValue): '\(left.typeName)' and '\(right.typeName)'")
    }

    @inline(never)
    mutating func applyBinary(_ op: BinaryOperator, _ left: Value, _ right: Value) throws(ChatTemplateError) -> Value {
        switch op {
        case .concatenate:
            return try concatenated(
                try left.pythonString(limit: limits.maxTextBytes), try right.pythonString(limit: limits.maxTextBytes))
        case .add:
            switch (left, right) {
            case (.string(let a), .string(let b)): return try concatenated(a, b)
            case (.list(let a), .list(let b)):
                try checkCount(a.count + b.count)
                try charge(a.count + b.count)
                return .list(a + b)
            default: return try arithmetic(op, left, right)
            }
        case .multiply:
            if case .string(let text) = left, let count = right.integerValue { return try repeated(text, count) }
            if case .string(let text) = right, let count = left.integerValue { return try repeated(text, count) }
            if case .list(let items) = left, let count = right.integerValue { return try repeated(items, count) }
            if case .list(let items) = right, let count = left.integerValue { return try repeated(items, count) }
            return try arithmetic(op, left, right)
        case .modulo:
            if case .string = left {
                throw ChatTemplateError(.unsupportedFeature, "printf-style '%' string formatting is not supported")
            }
            return try arithmetic(op, left, right)
        case .subtract, .divide, .floorDivide, .power:
            return try arithmetic(op, left, right)
        }
    }

    private mutating func concatenated(_ a: String, _ b: String) throws(ChatTemplateError) -> Value {
        let size = a.utf8.count + b.utf8.count
        guard size <= limits.maxTextBytes else {
            throw ChatTemplateError(.limitExceeded, "string would be longer than the limit of \(limits.maxTextBytes) bytes")
        }
        try charge(bytes: size)
        return .string(a + b)
    }

    private mutating func repeated(_ text: String, _ count: Int) throws(ChatTemplateError) -> Value {
        guard count > 0 else { return .string("") }
        let (size, overflow) = text.utf8.count.multipliedReportingOverflow(by: count)
        guard !overflow, size <= limits.maxTextBytes else {
            throw ChatTemplateError(.limitExceeded, "string would be longer than the limit of \(limits.maxTextBytes) bytes")
        }
        try charge(bytes: size)
        return .string(String(repeating: text, count: count))
    }

    private mutating func repeated(_ items: [Value], _ count: Int) throws(ChatTemplateError) -> Value {
        guard count > 0 else { return .list([]) }
        let (total, overflow) = items.count.multipliedReportingOverflow(by: count)
        guard !overflow else { throw ChatTemplateError(.limitExceeded, "list would be too long") }
        try checkCount(total)
        try charge(total)
        return .list(Array([[Value]](repeating: items, count: count).joined()))
    }

    func checkCount(_ count: Int) throws(ChatTemplateError) {
        guard count <= limits.maxCollectionCount else {
            throw ChatTemplateError(.limitExceeded, "list would have more than \(limits.maxCollectionCount) items")
        }
    }

    func arithmetic(_ op: BinaryOperator, _ left: Value, _ right: Value) throws(ChatTemplateError) -> Value {
        if let a = left.integerValue, let b = right.integerValue {
            return try integerArithmetic(op, a, b)
        }
        guard let a = left.numericValue, let b = right.numericValue else { throw operandError(op, left, right) }
        switch op {
        case .add: return .double(a + b)
        case .subtract: return .double(a - b)
        case .multiply: return .double(a * b)
        case .divide:
            guard b != 0 else { throw divisionByZero() }
            return .double(a / b)
        case .floorDivide:
            guard b != 0 else { throw divisionByZero() }
            return .double((a / b).rounded(.down))
        case .modulo:
            guard b != 0 else { throw divisionByZero() }
            let remainder = fmod(a, b)
            return .double(remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder)
        case .power:
            return .double(pow(a, b))
        case .concatenate:
            throw operandError(op, left, right)
        }
    }

    private func integerArithmetic(_ op: BinaryOperator, _ a: Int, _ b: Int) throws(ChatTemplateError) -> Value {
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws(ChatTemplateError) -> Value {
            guard !result.overflow else { throw integerOverflow() }
            return .int(result.partialValue)
        }
        switch op {
        case .add: return try checked(a.addingReportingOverflow(b))
        case .subtract: return try checked(a.subtractingReportingOverflow(b))
        case .multiply: return try checked(a.multipliedReportingOverflow(by: b))
        case .divide:
            guard b != 0 else { throw divisionByZero() }
            return .double(Double(a) / Double(b))
        case .floorDivide, .modulo:
            guard b != 0 else { throw divisionByZero() }
            guard !(a == .min && b == -1) else { throw integerOverflow() }
            var quotient = a / b
            var remainder = a % b
            if remainder != 0 && (remainder < 0) != (b < 0) {
                quotient -= 1
                remainder += b
            }
            return .int(op == .floorDivide ? quotient : remainder)
        case .power:
            if b < 0 { return .double(pow(Double(a), Double(b))) }
            var result = 1
            var base = a
            var exponent = b
            while exponent > 0 {
                if exponent & 1 == 1 {
                    let (product, overflow) = result.multipliedReportingOverflow(by: base)
                    guard !overflow else { throw integerOverflow() }
                    result = product
                }
                exponent >>= 1
                if exponent > 0 {
                    let (square, overflow) = base.multipliedReportingOverflow(by: base)
                    guard !overflow else { throw integerOverflow() }
                    base = square
                }
            }
            return .int(result)
        case .concatenate:
            throw ChatTemplateError(.typeMismatch, "'~' joins strings; it is not arithmetic")
        }
    }

    private func divisionByZero() -> ChatTemplateError {
        ChatTemplateError(.invalidArgument, "division by zero")
    }

    func compare(_ op: CompareOperator, _ left: Value, _ right: Value) throws(ChatTemplateError) -> Bool {
        switch op {
        case .equal: return left.pythonEquals(right)
        case .notEqual: return !left.pythonEquals(right)
        case .less: return try left.pythonLess(than: right)
        case .lessOrEqual: return try left.pythonLess(than: right) || left.pythonEquals(right)
        case .greater: return try right.pythonLess(than: left)
        case .greaterOrEqual: return try right.pythonLess(than: left) || left.pythonEquals(right)
        case .in: return try contains(right, left)
        case .notIn: return !(try contains(right, left))
        }
    }

    /// Python's `item in container`.
    func contains(_ container: Value, _ item: Value) throws(ChatTemplateError) -> Bool {
        switch container {
        case .string(let text):
            guard case .string(let needle) = item else {
                if case .undefined(let undefined) = item { throw ChatTemplateError(.undefinedValue, undefined.reason) }
                throw ChatTemplateError(
                    .typeMismatch, "'in <string>' requires a string as left operand, not '\(item.typeName)'")
            }
            return text.pythonFind(needle) >= 0
        case .list(let items):
            return items.contains { $0.pythonEquals(item) }
        case .dict(let dict):
            guard let key = DictKey(item) else { return false }
            return dict[key] != nil
        case .undefined:
            return false
        default:
            throw ChatTemplateError(.typeMismatch, "argument of type '\(container.typeName)' is not iterable")
        }
    }
}

/// Decimal numerals whose value lies between bounds, as grammar expressions: the digit-by-digit construction of
/// a range as alternatives of digit classes (12-345: "1" [2-9] | [2-9] [0-9] | [1-2] [0-9] [0-9] | "3" [0-3] [0-9] |
/// "34" [0-5]). Numerals have no leading zeros and at most 16 integer digits.
enum IntegerRanges {
    static let maxDigits = 16
    static let digit = GrammarExpression.characters(CharacterRanges([0x30 ... 0x39]))

    /// A bound on a value, and whether the value must differ from it.
    struct Bound {
        var value: Int
        var strict: Bool
    }

    /// Integers (optionally signed) in `low ... high` (nil: unbounded); never `-0`.
    static func expression(low: Int?, high: Int?) -> GrammarExpression {
        var alternatives: [GrammarExpression] = []
        if low.map({ $0 < 0 }) ?? true {
            let magnitudeLow = max(1, high.map { -$0 } ?? 1)
            let magnitudeHigh = low.map { -$0 }
            if let range = nonNegative(magnitudeLow, magnitudeHigh) { alternatives.append(.sequence([.literal("-"), range])) }
        }
        if high.map({ $0 >= 0 }) ?? true, let range = nonNegative(max(low ?? 0, 0), high) { alternatives.append(range) }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    /// Decimal numbers (optionally signed, with an optional fraction of up to 16 digits, no exponent) whose value
    /// lies within the bounds.
    static func decimal(low: Bound?, high: Bound?) -> GrammarExpression {
        var alternatives: [GrammarExpression] = []
        // Negative values -u: u > 0, u ≥ -high (or >), u ≤ -low (or <).
        if low.map({ $0.value < 0 }) ?? true {
            let magnitudeLow = high.flatMap { $0.value < 0 ? Bound(value: -$0.value, strict: $0.strict) : nil } ?? Bound(value: 0, strict: true)
            let magnitudeHigh = low.map { Bound(value: -$0.value, strict: $0.strict) }
            if let range = unsignedDecimal(low: magnitudeLow, high: magnitudeHigh) { alternatives.append(.sequence([.literal("-"), range])) }
        }
        if high.map({ $0.value > 0 || ($0.value == 0 && !$0.strict) }) ?? true {
            let from = low.flatMap { $0.value >= 0 ? $0 : nil }
            if let range = unsignedDecimal(low: from, high: high) { alternatives.append(range) }
        }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    /// Unsigned decimals `I(.F)?` with value within the bounds (`low.value` ≥ 0); nil when none is.
    static func unsignedDecimal(low: Bound?, high: Bound?) -> GrammarExpression? {
        let anyFraction = GrammarExpression.optional(.sequence([.literal("."), .repetition(digit, min: 1, max: maxDigits)]))
        let nonZeroFraction = GrammarExpression.sequence([.literal("."), .repetition(.literal("0"), min: 0, max: maxDigits - 1),
                                                          .characters(CharacterRanges([0x31 ... 0x39])), .repetition(digit, min: 0, max: maxDigits - 1)])
        let zeroFraction = GrammarExpression.optional(.sequence([.literal("."), .repetition(.literal("0"), min: 1, max: maxDigits)]))
        var alternatives: [GrammarExpression] = []
        // Whole parts whose every fraction fits.
        let first = low.map { $0.strict ? $0.value + 1 : $0.value } ?? 0
        let last = high.map { $0.value - 1 }
        if last.map({ first <= $0 }) ?? true, let range = nonNegative(first, last) {
            alternatives.append(.sequence([range, anyFraction]))
        }
        // Just above a strict low bound.
        if let low, low.strict, high.map({ low.value < $0.value }) ?? true {
            alternatives.append(.sequence([.literal(String(low.value)), nonZeroFraction]))
        }
        // Exactly a non-strict high bound.
        if let high, !high.strict, high.value >= 0, low.map({ high.value > $0.value || (high.value == $0.value && !$0.strict) }) ?? true {
            alternatives.append(.sequence([.literal(String(high.value)), zeroFraction]))
        }
        if alternatives.isEmpty { return nil }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    /// Numerals of `low ... high` (`high` nil: up to 16 digits), `low` ≥ 0; nil when the range is empty.
    static func nonNegative(_ low: Int, _ high: Int?) -> GrammarExpression? {
        let top = high ?? Int(String(repeating: "9", count: maxDigits))!
        guard low <= top else { return nil }
        var alternatives: [GrammarExpression] = []
        let lowDigits = String(low).count
        let highDigits = String(top).count
        for length in lowDigits ... highDigits {
            let start = length == 1 ? 0 : Int(pow10(length - 1))
            let end = Int(pow10(length)) - 1
            let a = max(low, start)
            let b = min(top, end)
            guard a <= b else { continue }
            alternatives.append(contentsOf: sameLength(Array(String(a).utf8), Array(String(b).utf8)))
        }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    static func pow10(_ n: Int) -> Int {
        var value = 1
        for _ in 0 ..< n { value *= 10 }
        return value
    }

    /// Numerals of `x ... y`, both written with the same number of digits (leading zeros kept).
    static func sameLength(_ x: [UInt8], _ y: [UInt8]) -> [GrammarExpression] {
        func range(_ a: UInt8, _ b: UInt8) -> GrammarExpression {
            a == b ? .literal(String(UnicodeScalar(a))) : .characters(CharacterRanges([UInt32(a) ... UInt32(b)]))
        }
        func any(_ n: Int) -> GrammarExpression { .repetition(digit, min: n, max: n) }
        let zero = UInt8(ascii: "0")
        let nine = UInt8(ascii: "9")
        guard x.count > 1 else { return [range(x[0], y[0])] }
        let restX = Array(x.dropFirst())
        let restY = Array(y.dropFirst())
        if x[0] == y[0] {
            return sameLength(restX, restY).map { .sequence([.literal(String(UnicodeScalar(x[0]))), $0]) }
        }
        let fromZero = restX.allSatisfy { $0 == zero }
        let toNine = restY.allSatisfy { $0 == nine }
        var result: [GrammarExpression] = []
        var middleLow = x[0] + 1
        var middleHigh = y[0] - 1
        if fromZero {
            middleLow = x[0]
        } else {
            let upper = [UInt8](repeating: nine, count: restX.count)
            result += sameLength(restX, upper).map { .sequence([.literal(String(UnicodeScalar(x[0]))), $0]) }
        }
        if toNine { middleHigh = y[0] }
        if middleLow <= middleHigh { result.append(.sequence([range(middleLow, middleHigh), any(x.count - 1)])) }
        if !toNine {
            let lower = [UInt8](repeating: zero, count: restY.count)
            result += sameLength(lower, restY).map { .sequence([.literal(String(UnicodeScalar(y[0]))), $0]) }
        }
        return result
    }
}

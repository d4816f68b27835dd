/// A context-free grammar over Unicode text: named rules whose bodies are literals, character sets, references
/// to rules, sequences, choices and bounded or unbounded repetitions.
///
/// Every source of constraints compiles to one: llama.cpp's GBNF (`Grammar(gbnf:)`), a JSON schema
/// (`Grammar(jsonSchema:)`), a regular expression (`Grammar(regex:)`) and a list of choices. `gbnf` prints a
/// grammar back as GBNF. A grammar says what text may be generated; `CompiledGrammar` turns it into the
/// byte-level automaton that masks tokens.
public struct Grammar: Sendable, Hashable {
    /// One rule: a name (for messages and printing) and what it matches.
    public struct Rule: Sendable, Hashable {
        public var name: String
        public var body: GrammarExpression
    }

    /// The rules; references name them by index.
    public internal(set) var rules: [Rule]
    /// The rule the whole text must match.
    public internal(set) var root: Int

    init(rules: [Rule], root: Int) {
        self.rules = rules
        self.root = root
    }
}

/// What a rule matches.
public indirect enum GrammarExpression: Sendable, Hashable {
    /// Exactly this text.
    case literal(String)
    /// One character from the set.
    case characters(CharacterRanges)
    /// What the rule at this index matches.
    case rule(Int)
    /// Each in turn (empty: the empty text).
    case sequence([GrammarExpression])
    /// Any one of them (empty: nothing at all).
    case choice([GrammarExpression])
    /// The expression `min` to `max` times (`max` nil: no upper bound).
    case repetition(GrammarExpression, min: Int, max: Int?)

    /// The empty text.
    public static let empty = GrammarExpression.sequence([])

    /// `expression` or nothing.
    public static func optional(_ expression: GrammarExpression) -> GrammarExpression {
        .repetition(expression, min: 0, max: 1)
    }
}

/// A set of Unicode scalar values as sorted, disjoint, non-adjacent ranges (surrogates never included).
public struct CharacterRanges: Sendable, Hashable {
    /// The ranges, ascending.
    public private(set) var ranges: [ClosedRange<UInt32>]

    /// The set of the scalars in `ranges` (any order, overlaps allowed), less the surrogates.
    public init(_ ranges: [ClosedRange<UInt32>]) {
        var merged: [ClosedRange<UInt32>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            for piece in CharacterRanges.withoutSurrogates(range) {
                if let last = merged.last, piece.lowerBound <= last.upperBound &+ 1 {
                    merged[merged.count - 1] = last.lowerBound ... max(last.upperBound, piece.upperBound)
                } else {
                    merged.append(piece)
                }
            }
        }
        self.ranges = merged
    }

    /// One scalar.
    public init(_ scalar: Unicode.Scalar) {
        self.init([scalar.value ... scalar.value])
    }

    /// Every scalar.
    public static let all = CharacterRanges([0 ... 0x10FFFF])

    /// Every scalar not in this set.
    public var complement: CharacterRanges {
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in ranges {
            if range.lowerBound > next { result.append(next ... range.lowerBound - 1) }
            next = range.upperBound + 1
        }
        if next <= 0x10FFFF { result.append(next ... 0x10FFFF) }
        return CharacterRanges(result)
    }

    /// The scalars in either set.
    public func union(_ other: CharacterRanges) -> CharacterRanges {
        CharacterRanges(ranges + other.ranges)
    }

    /// The scalars in this set but not in `other`.
    public func subtracting(_ other: CharacterRanges) -> CharacterRanges {
        intersection(other.complement)
    }

    /// The scalars in both sets.
    public func intersection(_ other: CharacterRanges) -> CharacterRanges {
        let (a, b) = (self, other)
        var result: [ClosedRange<UInt32>] = []
        var i = 0
        var j = 0
        while i < a.ranges.count, j < b.ranges.count {
            let low = max(a.ranges[i].lowerBound, b.ranges[j].lowerBound)
            let high = min(a.ranges[i].upperBound, b.ranges[j].upperBound)
            if low <= high { result.append(low ... high) }
            if a.ranges[i].upperBound < b.ranges[j].upperBound { i += 1 } else { j += 1 }
        }
        return CharacterRanges(result)
    }

    /// Whether the set holds `scalar`.
    public func contains(_ scalar: UInt32) -> Bool {
        ranges.contains { $0.contains(scalar) }
    }

    /// Whether the set is empty.
    public var isEmpty: Bool { ranges.isEmpty }

    private static func withoutSurrogates(_ range: ClosedRange<UInt32>) -> [ClosedRange<UInt32>] {
        let clamped = range.clamped(to: 0 ... 0x10FFFF)
        guard clamped.overlaps(0xD800 ... 0xDFFF) else { return [clamped] }
        var pieces: [ClosedRange<UInt32>] = []
        if clamped.lowerBound < 0xD800 { pieces.append(clamped.lowerBound ... 0xD7FF) }
        if clamped.upperBound > 0xDFFF { pieces.append(0xE000 ... clamped.upperBound) }
        return pieces
    }
}

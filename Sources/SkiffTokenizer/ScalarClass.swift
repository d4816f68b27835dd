/// How the pre-tokenizer split patterns see one Unicode scalar: the classes `\p{L}`, `\p{N}` and `\s` of the
/// regular expressions they stand for, with CR and LF told apart from other whitespace.
enum ScalarClass: UInt8, Sendable {
    /// General category L (Lu, Ll, Lt, Lm, Lo): any script's letters, including CJK ideographs and kana.
    case letter
    /// General category N (Nd, Nl, No): digits of any script, Roman numerals, fractions, circled numbers.
    case number
    /// White_Space other than CR and LF (space, tab, NBSP, ideographic space...).
    case space
    /// CR or LF.
    case newline
    /// Everything else: punctuation, symbols and emoji, combining marks, format and control characters,
    /// unassigned code points.
    case other

    /// The class of `scalar`.
    init(_ scalar: Unicode.Scalar) {
        if scalar.isASCII {
            self = Self.asciiTable[Int(scalar.value)]
        } else {
            self = Self.classify(scalar)
        }
    }

    /// Whether the class is `\s`.
    var isWhitespace: Bool { self == .space || self == .newline }

    private static let asciiTable: [ScalarClass] = (0 ..< 128).map { classify(Unicode.Scalar(UInt8($0))) }

    private static func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
        if scalar == "\r" || scalar == "\n" {
            return .newline
        }
        let properties = scalar.properties
        if properties.isWhitespace {
            return .space
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}

/// The role of a vocabulary entry, as stored in `tokenizer.ggml.token_type` (SentencePiece's piece types).
enum TokenType: UInt8, Sendable {
    /// No type given; rendered as nothing.
    case undefined = 0
    /// Ordinary text.
    case normal = 1
    /// The unknown-token placeholder.
    case unknown = 2
    /// A control token such as `<|im_start|>` or `<bos>`: matched in text only when special tokens are parsed,
    /// rendered only on request.
    case control = 3
    /// A user-defined token such as Gemma's `<b>` or `"\n\n"`: always matched whole in text and always rendered.
    case userDefined = 4
    /// A reserved entry that is never produced or rendered.
    case unused = 5
    /// A byte-fallback token `<0xNN>` standing for one raw byte.
    case byte = 6

    /// The type for a raw metadata value; nil for a value outside 0 to 6.
    init?(metadataValue: Int) {
        guard let value = UInt8(exactly: metadataValue) else { return nil }
        self.init(rawValue: value)
    }

    /// Whether the matcher looks for this token in text before the model splits it, when special tokens are parsed.
    var isMatchedAsSpecial: Bool {
        self == .control || self == .userDefined || self == .unknown
    }

    /// Whether the token is hidden from decoded text unless special tokens are rendered.
    var isHiddenByDefault: Bool {
        self == .control || self == .unknown
    }
}

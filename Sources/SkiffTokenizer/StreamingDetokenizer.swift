/// Turns generated token ids into text as they arrive, one call per token.
///
/// Each `append` returns only complete characters: the bytes of a character split across tokens (an emoji
/// spelled by four byte tokens, a CJK character cut by a BPE merge) are held back until the token that
/// completes it arrives. Invalid byte sequences become U+FFFD as soon as they are known to be invalid.
/// The concatenation of every `append` plus `flush()` equals `Tokenizer.decode` of the same ids.
public struct StreamingDetokenizer: Sendable {
    private let tokenizer: Tokenizer
    private let renderSpecial: Bool
    private var assembler = UTF8Assembler()
    private var atStart = true

    /// Starts an empty stream; control tokens are rendered only when `renderSpecial` is true (as in `decode`).
    public init(tokenizer: Tokenizer, renderSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
    }

    /// Adds one token and returns the text it completes (possibly empty while a character is unfinished).
    public mutating func append(_ id: Int32) -> String {
        var raw: [UInt8] = []
        tokenizer.appendPiece(id, renderSpecial: renderSpecial, atStart: &atStart, to: &raw)
        var valid: [UInt8] = []
        assembler.append(raw, to: &valid)
        return String(decoding: valid, as: UTF8.self)
    }

    /// Ends the stream: returns U+FFFD if a character was left unfinished, else an empty string. The stream
    /// can go on afterwards, as if a new one had started mid-text.
    public mutating func flush() -> String {
        var valid: [UInt8] = []
        assembler.finish(to: &valid)
        return String(decoding: valid, as: UTF8.self)
    }
}

/// SentencePiece-style BPE as llama.cpp's `llm_tokenizer_spm` runs it.
///
/// Spaces become `▁` (U+2581); the text starts as one symbol per UTF-8 character; the adjacent pair whose
/// concatenation is a vocabulary entry with the highest score is merged (leftmost first among equals) until
/// no such pair remains. A final symbol that is not an entry is spelled with byte-fallback tokens `<0xNN>`,
/// or the unknown token when the vocabulary has no byte tokens.
struct SentencePieceTokenizer: Sendable {
    /// Vocabulary entries by their UTF-8 text.
    private let index: ByteStringTable
    private let scores: [Float]
    /// The `<0xNN>` token of each byte, or -1.
    private let byteTokens: [Int32]
    private let unknown: Int32?

    /// The escaped space, `▁`.
    static let escapedSpace: [UInt8] = [0xE2, 0x96, 0x81]

    /// Builds the tokenizer from the vocabulary, its scores (0 for every entry when the file has none) and
    /// the unknown token id.
    init(tokens: [String], scores: [Float], unknown: Int32?) {
        let index = ByteStringTable(tokens.map { Array($0.utf8) })
        self.index = index
        self.scores = scores
        byteTokens = (0 ... 255).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            let name = "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
            return index.id(of: Array(name.utf8)) ?? -1
        }
        self.unknown = unknown
    }

    /// Appends the tokens of one text fragment, with a space put in front first when `prependSpace` is true.
    func encode(_ text: UnsafeBufferPointer<UInt8>, prependSpace: Bool, into output: inout [Int32]) {
        var escaped: [UInt8] = []
        escaped.reserveCapacity(text.count + 3)
        if prependSpace {
            escaped += Self.escapedSpace
        }
        for byte in text {
            if byte == 0x20 {
                escaped += Self.escapedSpace
            } else {
                escaped.append(byte)
            }
        }
        guard !escaped.isEmpty else { return }
        escaped.withUnsafeBufferPointer { encodeEscaped($0, into: &output) }
    }

    private func encodeEscaped(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        // One symbol per UTF-8 character: its start offset and byte length.
        var starts: [Int32] = []
        var lengths: [Int32] = []
        var offset = 0
        while offset < text.count {
            let length = min(Self.utf8Length(lead: text[offset]), text.count - offset)
            starts.append(Int32(offset))
            lengths.append(Int32(length))
            offset += length
        }
        var chain = SymbolChain(count: starts.count)
        var queue = PriorityQueue<Candidate>()

        func enqueue(_ left: Int) {
            guard let right = chain.next(left) else { return }
            let size = Int(lengths[left] + lengths[right])
            let span = UnsafeBufferPointer(rebasing: text[Int(starts[left]) ..< Int(starts[left]) + size])
            guard let token = index.id(of: span) else { return }
            queue.push(Candidate(score: scores[Int(token)], left: Int32(left), right: Int32(right), size: Int32(size)))
        }

        for left in 0 ..< starts.count - 1 {
            enqueue(left)
        }
        while let candidate = queue.pop() {
            let left = Int(candidate.left)
            let right = Int(candidate.right)
            // Stale when either side has been merged away or has grown since the pair was queued.
            guard lengths[left] > 0, lengths[right] > 0, lengths[left] + lengths[right] == candidate.size else {
                continue
            }
            lengths[left] += lengths[right]
            lengths[right] = 0
            chain.remove(right)
            if let previous = chain.previous(left) {
                enqueue(previous)
            }
            enqueue(left)
        }

        var position: Int? = 0
        while let i = position {
            let span = UnsafeBufferPointer(rebasing: text[Int(starts[i]) ..< Int(starts[i] + lengths[i])])
            if let token = index.id(of: span) {
                output.append(token)
            } else {
                for byte in span {
                    let token = byteTokens[Int(byte)]
                    if token >= 0 {
                        output.append(token)
                    } else if let unknown {
                        output.append(unknown)
                    }
                }
            }
            position = chain.next(i)
        }
    }

    /// The length of the UTF-8 sequence a byte starts (1 for a stray continuation byte).
    private static func utf8Length(lead: UInt8) -> Int {
        switch lead {
        case 0xF0...: 4
        case 0xE0...: 3
        case 0xC0...: 2
        default: 1
        }
    }

    /// A queued pair: the highest score pops first, then the leftmost.
    private struct Candidate: Comparable {
        var score: Float
        var left: Int32
        var right: Int32
        var size: Int32

        static func < (a: Candidate, b: Candidate) -> Bool {
            a.score != b.score ? a.score > b.score : a.left < b.left
        }

        static func == (a: Candidate, b: Candidate) -> Bool {
            a.score == b.score && a.left == b.left
        }
    }
}

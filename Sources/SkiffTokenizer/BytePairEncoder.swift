/// GPT-2 style byte-level BPE: a word's bytes start as single-byte tokens and the adjacent pair with the best
/// (lowest) merge rank is merged, leftmost first among equals, until no listed merge applies.
///
/// Tokens are handled as raw bytes: the byte-level spelling of the vocabulary (`Ġ` for space...) is undone
/// when the encoder is built, so encoding never re-spells the input.
struct BytePairEncoder: Sendable {
    /// What merging a pair of token ids gives.
    private struct Merge: Sendable {
        var rank: Int32
        var result: Int32
    }

    /// Vocabulary entries by raw bytes (every entry spelled in the byte-level alphabet).
    private let index: ByteStringTable
    /// The token of each single byte, -1 when the vocabulary lacks it.
    private let byteTokens: [Int32]
    /// Merges keyed by `left << 32 | right`.
    private let merges: [UInt64: Merge]
    /// Whether a word that is a vocabulary entry is emitted whole without merging.
    private let wordsMatchWhole: Bool

    /// Builds the encoder from the vocabulary spelled in the byte-level alphabet and `tokenizer.ggml.merges`.
    init(spelledTokens: [String], merges mergeLines: [String], wordsMatchWhole: Bool) throws(TokenizerError) {
        var rawTokens: [[UInt8]] = []
        rawTokens.reserveCapacity(spelledTokens.count)
        var spellable: [Bool] = []
        spellable.reserveCapacity(spelledTokens.count)
        for token in spelledTokens {
            let bytes = ByteLevelAlphabet.bytes(spelledBy: token)
            rawTokens.append(bytes ?? [])
            spellable.append(bytes != nil)
        }
        let index = ByteStringTable(rawTokens) { spellable[$0] }
        self.index = index
        byteTokens = (0 ... 255).map { index.id(of: [UInt8($0)]) ?? -1 }
        self.wordsMatchWhole = wordsMatchWhole

        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(mergeLines.count)
        for (rank, line) in mergeLines.enumerated() {
            // "left right", split at the first space after the first character, as llama.cpp does.
            guard let space = line.unicodeScalars.dropFirst().firstIndex(of: " ") else {
                throw TokenizerError(.invalidMetadata, "tokenizer.ggml.merges[\(rank)] = '\(line)' is not two tokens separated by a space")
            }
            let left = String(line.unicodeScalars[..<space])
            let right = String(line.unicodeScalars[line.unicodeScalars.index(after: space)...])
            guard let leftBytes = ByteLevelAlphabet.bytes(spelledBy: left),
                  let rightBytes = ByteLevelAlphabet.bytes(spelledBy: right),
                  let leftID = index.id(of: leftBytes), let rightID = index.id(of: rightBytes),
                  let result = index.id(of: leftBytes + rightBytes)
            else {
                continue  // A merge whose parts or result are not tokens can never apply.
            }
            let key = UInt64(UInt32(leftID)) << 32 | UInt64(UInt32(rightID))
            if merges[key] == nil {
                merges[key] = Merge(rank: Int32(rank), result: result)
            }
        }
        self.merges = merges
    }

    /// Appends the tokens of one pre-tokenized word.
    func encode(_ word: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        if wordsMatchWhole, let whole = index.id(of: word) {
            output.append(whole)
            return
        }
        if word.count == 1 {
            appendIfKnown(byteTokens[Int(word[0])], to: &output)
            return
        }
        var ids = word.map { byteTokens[Int($0)] }
        var chain = SymbolChain(count: ids.count)
        var queue = PriorityQueue<Candidate>()

        func enqueue(_ left: Int) {
            guard let right = chain.next(left), let merge = mergeRule(ids[left], ids[right]) else { return }
            queue.push(Candidate(rank: merge.rank, left: Int32(left)))
        }

        for left in 0 ..< ids.count - 1 {
            enqueue(left)
        }
        while let candidate = queue.pop() {
            let left = Int(candidate.left)
            guard let right = chain.next(left), let merge = mergeRule(ids[left], ids[right]), merge.rank == candidate.rank else {
                continue  // Stale: one side was merged into something else since this pair was queued.
            }
            ids[left] = merge.result
            chain.remove(right)
            if let previous = chain.previous(left) {
                enqueue(previous)
            }
            enqueue(left)
        }
        var position: Int? = 0
        while let i = position {
            appendIfKnown(ids[i], to: &output)
            position = chain.next(i)
        }
    }

    private func mergeRule(_ left: Int32, _ right: Int32) -> Merge? {
        guard left >= 0, right >= 0 else { return nil }
        return merges[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))]
    }

    private func appendIfKnown(_ id: Int32, to output: inout [Int32]) {
        if id >= 0 {
            output.append(id)
        }
    }

    /// A queued pair: the lowest rank pops first, then the leftmost.
    private struct Candidate: Comparable {
        var rank: Int32
        var left: Int32

        static func < (a: Candidate, b: Candidate) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.left < b.left
        }
    }
}

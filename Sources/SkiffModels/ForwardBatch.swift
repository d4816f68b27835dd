import SkiffHyperparameters

/// The tokens of one forward pass, possibly from several sequences.
///
/// Token `i` is `tokens[i]` at `positions[i]` of sequence `sequences[i]`, whose cache blocks are
/// `blockTables[sequences[i]]`, a table per block group of the model's `CacheLayout`. Its keys and values are
/// written to the block holding that position in each group, and it attends to positions `0 ... positions[i]`
/// of its own sequence (the last `window` of them in a sliding-window group). A model with recurrent layers
/// continues the state in the sequence's slot (`stateSlots`), so a sequence's tokens must be consecutive in
/// the batch and in position order, starting where its slot's state left off (or at 0, which starts afresh).
public struct ForwardBatch: Sendable {
    /// Token ids.
    public var tokens: [Int32] = []
    /// Position of each token in its sequence.
    public var positions: [Int32] = []
    /// Index into `blockTables` for each token.
    public var sequences: [Int32] = []
    /// Each sequence's KV block ids per block group, in position order; -1 for a block its sliding window
    /// no longer needs.
    public var blockTables: [[[Int32]]] = []
    /// Each sequence's recurrent-state slot (used by models with recurrent layers).
    public var stateSlots: [Int32] = []
    /// Indices of the tokens whose next-token logits are wanted, in output order.
    public var logitIndices: [Int] = []

    /// Creates an empty batch.
    public init() {}

    /// Adds a sequence's block tables (one per block group) and its recurrent-state slot, and returns its index.
    public mutating func addSequence(blockTables tables: [[Int32]], stateSlot: Int32) -> Int32 {
        blockTables.append(tables)
        stateSlots.append(stateSlot)
        return Int32(blockTables.count - 1)
    }

    /// Adds a token of sequence `sequence` at `position`; `wantsLogits` asks for its next-token logits.
    public mutating func add(token: Int32, position: Int32, sequence: Int32, wantsLogits: Bool) {
        if wantsLogits { logitIndices.append(tokens.count) }
        tokens.append(token)
        positions.append(position)
        sequences.append(sequence)
    }

    /// Number of tokens.
    public var count: Int { tokens.count }
}

extension ForwardBatch {
    /// Checks what every backend needs of a batch: 1 to `maxTokens` tokens, each with a position and a sequence,
    /// token ids within `vocabularySize`, a block table per block group of `groups` whose blocks cover each
    /// token's attended positions and exist among `blockCount` blocks of `blockSize` tokens, and logits asked
    /// of tokens the batch has.
    func check(maxTokens: Int, vocabularySize: Int, groups: [CacheLayout.BlockGroup], blockSize: Int, blockCount: Int) throws(ModelError) {
        guard count > 0, count <= maxTokens else {
            throw ModelError(.invalidBatch, "a forward pass takes 1 to \(maxTokens) tokens, not \(count)")
        }
        guard positions.count == count, sequences.count == count else {
            throw ModelError(.invalidBatch, "every token needs a position and a sequence")
        }
        for i in 0 ..< count {
            let token = tokens[i]
            guard token >= 0, Int(token) < vocabularySize else {
                throw ModelError(.invalidBatch, "token id \(token) is outside the vocabulary of \(vocabularySize)")
            }
            let s = Int(sequences[i])
            guard s >= 0, s < blockTables.count, blockTables[s].count == groups.count else {
                throw ModelError(.invalidBatch, "token \(i) names sequence \(s), which the batch does not have with a block table per block group (\(groups.count))")
            }
            let p = Int(positions[i])
            guard p >= 0 else { throw ModelError(.invalidBatch, "position \(p) is negative") }
            for (group, table) in zip(groups, blockTables[s]) {
                guard p < table.count * blockSize else {
                    throw ModelError(.invalidBatch, "position \(p) is past the \(table.count) cache blocks of its sequence")
                }
                for block in table[group.firstBlockAttended(from: p, blockSize: blockSize) ... p / blockSize]
                where block < 0 || Int(block) >= blockCount {
                    throw ModelError(.invalidBatch, "cache block \(block) does not exist (the cache has \(blockCount))")
                }
            }
        }
        for i in logitIndices where i < 0 || i >= count {
            throw ModelError(.invalidBatch, "logits were asked for token \(i) of a \(count)-token batch")
        }
    }
}

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

import SkiffHyperparameters

/// The memory one sequence holds while it runs: keys and values of its attention layers, and the recurrent
/// state of its state-space layers.
///
/// A token costs `2 (K and V) × kv_heads × head_dim × bytes per element` in every attention layer. Tokens
/// are held in blocks, per block group of the layout (`CacheLayout.blockGroups`): a full-attention group
/// holds a block per `blockSize` tokens, a sliding-window group only the blocks its window and one step's
/// tokens span (Skiff's engine and vLLM both bound windows). Mamba-2 layers keep a state whose size does
/// not depend on the context.
public struct CacheAccounting: Sendable, Equatable {
    /// KV bytes per token, all attention layers (what a token costs while it is inside every window).
    public let bytesPerToken: Int
    /// KV bytes per token of the full-attention layers alone (what a token costs beyond the windows).
    public let bytesPerTokenBeyondWindows: Int
    /// Recurrent state per sequence, independent of its length.
    public let stateBytesPerSequence: Int
    /// Tokens per block.
    public let blockSize: Int
    /// The most tokens of one sequence a step computes (a sliding window holds one step's more).
    public let stepTokens: Int
    /// The cache's number format.
    public let precision: CachePrecision
    /// The block groups a sequence's blocks are held in, as the engine's block pool keeps them
    /// (`CacheLayout.blockGroups`; a model without attention has one group of token blocks, over which its
    /// state is spread).
    public let blockGroups: [CacheLayout.BlockGroup]
    /// Each block group and its bytes per token.
    private let groups: [Group]

    private struct Group: Sendable, Equatable {
        var blocks: CacheLayout.BlockGroup
        var bytesPerToken: Int
    }

    /// The accounting of `model`'s cache layout.
    public init(model: ModelShape, precision: CachePrecision = .fp16, stateBytesPerElement: Int = 2, blockSize: Int = 16,
                stepTokens: Int = 1) {
        self.init(layout: model.cacheLayout, precision: precision, stateBytesPerElement: stateBytesPerElement, blockSize: blockSize,
                  stepTokens: stepTokens)
    }

    /// The accounting of `layout` with keys and values in `precision`, recurrent state in values of
    /// `stateBytesPerElement` bytes (`ServingEngine.stateBytesPerElement`), steps computing at most `stepTokens`
    /// tokens of a sequence.
    public init(layout: CacheLayout, precision: CachePrecision = .fp16, stateBytesPerElement: Int = 2, blockSize: Int = 16,
                stepTokens: Int = 1) {
        var all = 0, beyond = 0, state = 0
        var elements: [Int] = []
        for layer in layout.layers {
            switch layer {
            case .attention(let heads, let key, let value, let window):
                elements.append(heads * (key + value))
                all += precision.bytes(heads * (key + value))
                if window == nil { beyond += precision.bytes(heads * (key + value)) }
            case .recurrent:
                elements.append(0)
                state += stateBytesPerElement * layer.stateElements
            }
        }
        bytesPerToken = all
        bytesPerTokenBeyondWindows = beyond
        stateBytesPerSequence = state
        blockGroups = layout.blockGroups
        groups = blockGroups.map { group in
            Group(blocks: group, bytesPerToken: precision.bytes(group.layers.reduce(0) { $0 + elements[$1] }))
        }
        self.blockSize = blockSize
        self.stepTokens = stepTokens
        self.precision = precision
    }

    /// KV bytes of one sequence of `tokens` tokens (in whole blocks), without recurrent state.
    public func kvBytes(tokens: Int) -> Int {
        groups.reduce(0) { sum, group in
            sum + group.blocks.blocksHeld(tokens: tokens, blockSize: blockSize, stepTokens: stepTokens) * blockSize * group.bytesPerToken
        }
    }

    /// Blocks one sequence of `tokens` tokens holds over every block group.
    public func blocksPerSequence(tokens: Int) -> Int {
        blockGroups.reduce(0) { $0 + $1.blocksHeld(tokens: tokens, blockSize: blockSize, stepTokens: stepTokens) }
    }

    /// All the memory one sequence of `tokens` tokens holds: its KV and its recurrent state.
    public func bytesPerSequence(tokens: Int) -> Int { kvBytes(tokens: tokens) + stateBytesPerSequence }
}

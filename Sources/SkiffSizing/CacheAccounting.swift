/// The memory one sequence holds while it runs: keys and values of its attention layers, and the recurrent
/// state of its state-space layers.
///
/// A token costs `2 (K and V) × kv_heads × head_dim × bytes per element` in every attention layer. A
/// sliding-window layer never holds more than its window when the runtime bounds it (vLLM does; Skiff's
/// engine keeps every layer at full length today). Mamba-2 layers keep a state whose size does not depend
/// on the context. Tokens are held in blocks, so a sequence's tokens round up to whole blocks.
public struct CacheAccounting: Sendable, Equatable {
    /// KV bytes per token, all attention layers (what a token costs while it is inside every window).
    public let bytesPerToken: Int
    /// KV bytes per token of the full-attention layers alone (what a token costs beyond the windows).
    public let bytesPerTokenBeyondWindows: Int
    /// Recurrent state per sequence, independent of its length.
    public let stateBytesPerSequence: Int
    /// Tokens per block.
    public let blockSize: Int
    /// The cache's number format.
    public let precision: CachePrecision
    /// Whether sliding-window layers hold only their window.
    public let boundsSlidingWindows: Bool
    private let bytesPerLayerToken: Int
    private let windows: [Int]

    /// The accounting of `model` with keys and values in `precision`.
    public init(model: ModelShape, precision: CachePrecision = .fp16, blockSize: Int = 16, boundsSlidingWindows: Bool) {
        let perLayer = precision.bytes(model.kvHeadCount * (model.keyLength + model.valueLength))
        bytesPerToken = perLayer * model.attentionWindows.count
        bytesPerTokenBeyondWindows = boundsSlidingWindows ? perLayer * model.fullAttentionLayers : bytesPerToken
        bytesPerLayerToken = perLayer
        windows = boundsSlidingWindows ? model.attentionWindows.compactMap { $0 } : []
        stateBytesPerSequence = model.stateSpace.map { 2 * $0.elementsPerLayer * $0.layers } ?? 0
        self.blockSize = blockSize
        self.precision = precision
        self.boundsSlidingWindows = boundsSlidingWindows
    }

    /// KV bytes of one sequence of `tokens` tokens (rounded up to blocks), without recurrent state.
    public func kvBytes(tokens: Int) -> Int {
        let held = roundedToBlocks(tokens)
        var bytes = bytesPerTokenBeyondWindows * held
        for window in windows { bytes += bytesPerLayerToken * min(held, roundedToBlocks(window)) }
        return bytes
    }

    /// All the memory one sequence of `tokens` tokens holds: its KV and its recurrent state.
    public func bytesPerSequence(tokens: Int) -> Int { kvBytes(tokens: tokens) + stateBytesPerSequence }

    private func roundedToBlocks(_ tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize * blockSize }
}

import SkiffHyperparameters

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
    /// Each sliding-window layer's bytes per token and window, when windows are bounded.
    private let windows: [Window]

    private struct Window: Sendable, Equatable {
        var bytesPerToken: Int
        var tokens: Int
    }

    /// The accounting of `model`'s cache layout.
    public init(model: ModelShape, precision: CachePrecision = .fp16, blockSize: Int = 16, boundsSlidingWindows: Bool) {
        self.init(layout: model.cacheLayout, precision: precision, blockSize: blockSize, boundsSlidingWindows: boundsSlidingWindows)
    }

    /// The accounting of `layout` with keys and values in `precision` (recurrent state in 16 bits).
    public init(layout: CacheLayout, precision: CachePrecision = .fp16, blockSize: Int = 16, boundsSlidingWindows: Bool) {
        var all = 0, beyond = 0, state = 0
        var windows: [Window] = []
        for layer in layout.layers {
            switch layer {
            case .attention(let heads, let key, let value, let window):
                let perToken = precision.bytes(heads * (key + value))
                all += perToken
                if let window, boundsSlidingWindows { windows.append(Window(bytesPerToken: perToken, tokens: window)) } else { beyond += perToken }
            case .recurrent(let elements):
                state += 2 * elements
            }
        }
        bytesPerToken = all
        bytesPerTokenBeyondWindows = beyond
        self.windows = windows
        stateBytesPerSequence = state
        self.blockSize = blockSize
        self.precision = precision
        self.boundsSlidingWindows = boundsSlidingWindows
    }

    /// KV bytes of one sequence of `tokens` tokens (rounded up to blocks), without recurrent state.
    public func kvBytes(tokens: Int) -> Int {
        let held = roundedToBlocks(tokens)
        var bytes = bytesPerTokenBeyondWindows * held
        for window in windows { bytes += window.bytesPerToken * min(held, roundedToBlocks(window.tokens)) }
        return bytes
    }

    /// All the memory one sequence of `tokens` tokens holds: its KV and its recurrent state.
    public func bytesPerSequence(tokens: Int) -> Int { kvBytes(tokens: tokens) + stateBytesPerSequence }

    private func roundedToBlocks(_ tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize * blockSize }
}

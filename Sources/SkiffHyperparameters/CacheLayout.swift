/// What a model keeps for each running sequence, layer by layer: keys and values of every attention layer
/// (all of its context, or only its sliding window), and the fixed-size state of every recurrent layer.
///
/// The one description of a model's cache: the engine's KV memory and capacity, `skiff serve`'s start-up
/// log and sizing's accounting all read it, in elements; each reader applies its own number format.
public struct CacheLayout: Sendable, Equatable {
    /// One layer's cache.
    public enum Layer: Sendable, Equatable {
        /// Keys and values of every token the layer attends to: the whole context, or at most `window`
        /// tokens back when the layer has a sliding window.
        case attention(kvHeads: Int, keyLength: Int, valueLength: Int, window: Int?)
        /// A state of `elements` values per sequence, whatever its length (a Mamba-2 layer's SSM state and
        /// convolution inputs).
        case recurrent(elements: Int)

        /// A Mamba-2 layer's state: the SSM state (heads × head dim × N, where heads × head dim = inner size)
        /// plus the convolution's last `convKernel − 1` inputs (inner + 2 × groups × N wide).
        public static func mamba2(innerSize: Int, stateSize: Int, groupCount: Int, convKernel: Int) -> Layer {
            .recurrent(elements: innerSize * stateSize + (convKernel - 1) * (innerSize + 2 * groupCount * stateSize))
        }
    }

    /// The layers that keep anything, in block order.
    public var layers: [Layer]

    /// Creates a layout from its layers.
    public init(layers: [Layer]) {
        self.layers = layers
    }

    /// The layout the GGUF hyper-parameters call for: every attending block with its window, every Mamba-2
    /// block with its state, in block order.
    public init(_ h: ModelHyperparameters) {
        var byBlock: [(Int, Layer)] = []
        if let a = h.attention {
            for (block, window) in zip(a.layers, a.windows) {
                byBlock.append((block, .attention(kvHeads: a.kvHeadCount, keyLength: a.keyLength, valueLength: a.valueLength, window: window)))
            }
        }
        if let s = h.stateSpace {
            let layer = Layer.mamba2(innerSize: s.innerSize, stateSize: s.stateSize, groupCount: s.groupCount, convKernel: s.convKernel)
            for block in s.layers { byBlock.append((block, layer)) }
        }
        layers = byBlock.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Key and value elements one token adds to the attention layers, all of them (what a token costs while
    /// it is inside every window).
    public var kvElementsPerToken: Int {
        layers.reduce(0) { sum, layer in
            guard case .attention(let heads, let key, let value, _) = layer else { return sum }
            return sum + heads * (key + value)
        }
    }
}

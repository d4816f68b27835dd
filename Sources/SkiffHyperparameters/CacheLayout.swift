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
        /// A state of fixed size per sequence, whatever its length: the last inputs of a causal convolution
        /// (`convolution` values) and the scan's state (`scan` values), as a Mamba layer keeps them.
        case recurrent(convolution: Int, scan: Int)

        /// A Mamba-2 layer's state: the convolution's last `convKernel − 1` inputs (inner + 2 × groups × N wide)
        /// and the SSM state (heads × head dim × N, where heads × head dim = inner size).
        public static func mamba2(innerSize: Int, stateSize: Int, groupCount: Int, convKernel: Int) -> Layer {
            .recurrent(convolution: (convKernel - 1) * (innerSize + 2 * groupCount * stateSize), scan: innerSize * stateSize)
        }

        /// Values of recurrent state per sequence: 0 for an attention layer.
        public var stateElements: Int {
            guard case .recurrent(let convolution, let scan) = self else { return 0 }
            return convolution + scan
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

    /// Values of recurrent state one sequence holds over every layer, whatever its length.
    public var stateElementsPerSequence: Int { layers.reduce(0) { $0 + $1.stateElements } }

    /// Whether any layer keeps a recurrent state.
    public var hasRecurrentLayers: Bool { stateElementsPerSequence > 0 }

    /// The sliding window of layer `index`; nil for full attention or a recurrent layer.
    public func window(ofLayer index: Int) -> Int? {
        guard case .attention(_, _, _, let window) = layers[index] else { return nil }
        return window
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

extension CacheLayout {
    /// Attention layers that hold the same tokens of a sequence in the paged cache, so one block id (and one
    /// block table per sequence) serves them all: layers of full attention, or layers with one sliding
    /// window. Every group has as many layers, so a block id is one size in every group and the groups share
    /// one pool of blocks (vLLM's hybrid allocator works alike).
    public struct BlockGroup: Sendable, Equatable {
        /// Nil for full attention, else the window every layer of the group attends over.
        public let window: Int?
        /// The group's layers, as indices into `CacheLayout.layers`; slot `i` of every block id holds the
        /// keys and values of `layers[i]`.
        public let layers: [Int]

        /// Creates a group.
        public init(window: Int?, layers: [Int]) {
            self.window = window
            self.layers = layers
        }

        /// The first block a token at `position` attends to: 0 under full attention, else the block
        /// holding `position − window + 1`. Blocks before it can be let go once no token before
        /// `position` is still to be computed.
        public func firstBlockAttended(from position: Int, blockSize: Int) -> Int {
            guard let window else { return 0 }
            return max(0, position + 1 - window) / blockSize
        }

        /// The most blocks a sequence of `tokens` tokens holds in this group when a step computes at most
        /// `stepTokens` of its tokens: every block under full attention; under a sliding window, those
        /// the window and one step's tokens span.
        public func blocksHeld(tokens: Int, blockSize: Int, stepTokens: Int) -> Int {
            let all = (tokens + blockSize - 1) / blockSize
            guard let window else { return all }
            return min(all, (window + stepTokens - 1 + blockSize - 1) / blockSize + 1)
        }
    }

    /// The attention layers in block groups: layers of one kind (full attention, or one sliding window)
    /// split into groups of `gcd` of the kinds' layer counts, full attention first, each kind in layer
    /// order. A model whose layers are all of one kind has one group of all its attention layers; a model
    /// without attention has one group of no layers, whose blocks hold no keys or values but still count a
    /// sequence's tokens in blocks (for the scheduler and the prefix cache).
    public var blockGroups: [BlockGroup] {
        var kinds: [(window: Int?, layers: [Int])] = []
        for (index, layer) in layers.enumerated() {
            guard case .attention(_, _, _, let window) = layer else { continue }
            if let k = kinds.firstIndex(where: { $0.window == window }) {
                kinds[k].layers.append(index)
            } else {
                kinds.append((window, [index]))
            }
        }
        guard !kinds.isEmpty else { return [BlockGroup(window: nil, layers: [])] }
        kinds = kinds.filter { $0.window == nil } + kinds.filter { $0.window != nil }
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let size = kinds.reduce(0) { gcd($0, $1.layers.count) }
        return kinds.flatMap { kind in
            stride(from: 0, to: kind.layers.count, by: size).map { BlockGroup(window: kind.window, layers: Array(kind.layers[$0 ..< $0 + size])) }
        }
    }

    /// Key and value elements one block id holds per token: those of one group's layers (the widest group's,
    /// should the groups' layers differ).
    public var kvElementsPerBlockToken: Int {
        blockGroups.map { group in
            group.layers.reduce(0) { sum, index in
                guard case .attention(let heads, let key, let value, _) = layers[index] else { return sum }
                return sum + heads * (key + value)
            }
        }.max() ?? 0
    }

    /// Blocks one sequence of `tokens` tokens holds across every group, steps computing at most `stepTokens`
    /// of its tokens.
    public func blocksPerSequence(tokens: Int, blockSize: Int, stepTokens: Int) -> Int {
        blockGroups.reduce(0) { $0 + $1.blocksHeld(tokens: tokens, blockSize: blockSize, stepTokens: stepTokens) }
    }
}

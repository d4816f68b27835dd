import SkiffGGUF
import SkiffHyperparameters

/// What sizing needs to know about a model: its layer geometry and parameter counts, never its weights.
///
/// Read from a GGUF file's metadata and tensor table (`init(gguf:)`) or from a Hugging Face `config.json`
/// (`init(huggingFaceConfig:)`). Covers decoder-only transformers (full and sliding-window attention,
/// grouped-query attention), mixture-of-experts variants and Mamba-2 state-space layers.
public struct ModelShape: Sendable, Equatable {
    /// A display name.
    public var name: String
    /// The architecture (`llama`, `gemma3`, `qwen2`, `mixtral`, `mamba2`, ...).
    public var architecture: String
    /// The longest context the model was trained for, in tokens.
    public var contextLength: Int
    /// Width of the residual stream.
    public var hiddenSize: Int
    /// Number of blocks (attention and state-space layers together).
    public var layerCount: Int
    /// Query heads per attention layer (0 without attention).
    public var headCount: Int
    /// Key/value heads per attention layer (0 without attention).
    public var kvHeadCount: Int
    /// Width of one key head.
    public var keyLength: Int
    /// Width of one value head.
    public var valueLength: Int
    /// One entry per attention layer: nil for full attention, else its sliding window in tokens.
    public var attentionWindows: [Int?]
    /// The Mamba-2 layers, if any.
    public var stateSpace: StateSpaceShape?
    /// The experts, for a mixture-of-experts model.
    public var experts: ExpertShape?
    /// All parameters (every expert included).
    public var parameterCount: Int
    /// Parameters computed per token (the active experts only).
    public var activeParameterCount: Int
    /// The bytes of the weights as a GGUF file stores them, when the shape came from one.
    public var storedWeightsBytes: Int?
    /// How the stored weights are typed (`Q4_1 ×210, F32 ×61`), when the shape came from a GGUF file.
    public var storedWeightsTypes: String?
    /// The tensor types the GGUF file stores, when the shape came from one (nil for a `config.json`).
    public var storedTensorTypes: Set<GGMLType>?

    /// Creates a shape from its parts (the readers below are the usual way).
    public init(name: String, architecture: String, contextLength: Int, hiddenSize: Int, layerCount: Int,
                headCount: Int, kvHeadCount: Int, keyLength: Int, valueLength: Int, attentionWindows: [Int?],
                stateSpace: StateSpaceShape?, experts: ExpertShape?, parameterCount: Int, activeParameterCount: Int,
                storedWeightsBytes: Int? = nil, storedWeightsTypes: String? = nil, storedTensorTypes: Set<GGMLType>? = nil) {
        self.name = name
        self.architecture = architecture
        self.contextLength = contextLength
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.keyLength = keyLength
        self.valueLength = valueLength
        self.attentionWindows = attentionWindows
        self.stateSpace = stateSpace
        self.experts = experts
        self.parameterCount = parameterCount
        self.activeParameterCount = activeParameterCount
        self.storedWeightsBytes = storedWeightsBytes
        self.storedWeightsTypes = storedWeightsTypes
        self.storedTensorTypes = storedTensorTypes
    }

    /// The cache this shape calls for: its attention layers, then its Mamba-2 layers (accounting needs no
    /// block order).
    public var cacheLayout: CacheLayout {
        let attention = attentionWindows.map {
            CacheLayout.Layer.attention(kvHeads: kvHeadCount, keyLength: keyLength, valueLength: valueLength, window: $0)
        }
        let recurrent = stateSpace.map { s in
            Array(repeating: CacheLayout.Layer.mamba2(innerSize: s.innerSize, stateSize: s.stateSize, groupCount: s.groupCount,
                                                      convKernel: s.convKernel), count: s.layers)
        } ?? []
        return CacheLayout(layers: attention + recurrent)
    }

    /// Attention layers with full (global) attention.
    public var fullAttentionLayers: Int { attentionWindows.count { $0 == nil } }
    /// Attention layers with a sliding window.
    public var slidingWindowLayers: Int { attentionWindows.count { $0 != nil } }

    /// The bytes the weights take at `precision`; nil means as stored (a GGUF file's own types).
    ///
    /// Throws when no precision is given and the shape has no stored size (a `config.json`).
    public func weightsBytes(precision: WeightPrecision?) throws(SizingError) -> Int {
        if let precision { return Int((Double(parameterCount) * precision.bytesPerParameter).rounded(.up)) }
        guard let storedWeightsBytes else {
            throw SizingError(.invalidOption, "a config.json does not say how its weights are stored; pass --precision bf16|fp16|fp8|int8|int4")
        }
        return storedWeightsBytes
    }
}

/// The geometry of a model's Mamba-2 layers, which keep a constant-size state per sequence.
public struct StateSpaceShape: Sendable, Equatable {
    /// Number of Mamba-2 layers.
    public var layers: Int
    /// Width of the inner (expanded) stream, `expand × hidden`.
    public var innerSize: Int
    /// State dimension N per head.
    public var stateSize: Int
    /// Groups sharing B and C.
    public var groupCount: Int
    /// SSM heads.
    public var headCount: Int
    /// Width of the causal convolution.
    public var convKernel: Int

    /// Creates a shape.
    public init(layers: Int, innerSize: Int, stateSize: Int, groupCount: Int, headCount: Int, convKernel: Int) {
        self.layers = layers
        self.innerSize = innerSize
        self.stateSize = stateSize
        self.groupCount = groupCount
        self.headCount = headCount
        self.convKernel = convKernel
    }

}

/// The experts of a mixture-of-experts model: all resident in memory, a few computed per token.
public struct ExpertShape: Sendable, Equatable {
    /// Experts per layer.
    public var count: Int
    /// Experts each token is routed to.
    public var activePerToken: Int
    /// Parameters in all experts of all layers.
    public var parameterCount: Int

    /// Creates a shape.
    public init(count: Int, activePerToken: Int, parameterCount: Int) {
        self.count = count
        self.activePerToken = activePerToken
        self.parameterCount = parameterCount
    }
}

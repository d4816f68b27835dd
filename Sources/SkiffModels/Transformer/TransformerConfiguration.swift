import Foundation
import SkiffGGUF
import SkiffHyperparameters

/// The hyper-parameters of a decoder-only transformer, as Skiff's transformer architectures compute with them.
public struct TransformerConfiguration: Sendable, Equatable {
    /// `general.architecture`, e.g. `llama`.
    public var architecture: String
    /// Number of transformer blocks.
    public var layerCount: Int
    /// Width of the residual stream.
    public var embeddingLength: Int
    /// Hidden width of the feed-forward network.
    public var feedForwardLength: Int
    /// Query heads.
    public var headCount: Int
    /// Key/value heads (grouped-query attention when fewer than `headCount`).
    public var kvHeadCount: Int
    /// Width of one attention head.
    public var headDimension: Int
    /// Context length the model was trained for.
    public var contextLength: Int
    /// Vocabulary size (rows of the token embedding).
    public var vocabularySize: Int
    /// RMSNorm epsilon.
    public var rmsEpsilon: Float
    /// RoPE base frequency.
    public var ropeFrequencyBase: Float
    /// Number of dimensions of each head that rotate.
    public var ropeDimensionCount: Int
    /// Linear RoPE scaling factor (1 when none).
    public var ropeScaleFactor: Float

    /// The decoder-transformer view of `h`, checked for what Skiff's transformer kernels need: every block
    /// attends, heads divide evenly, head sizes are even, keys and values are as wide, RoPE scaling is none or
    /// linear, and the widths the weights and the KV cache are sized by do not overflow. Each failure names the
    /// key and its value.
    public init(_ h: ModelHyperparameters) throws(ModelError) {
        let arch = h.architecture
        architecture = arch
        /// A present key whose value contradicts another's or what Skiff computes with: "GGUF key 'K' is V; it must be R".
        func contradiction(_ key: String, _ value: Int, _ requirement: String) -> ModelError {
            ModelError(.invalidHyperparameter, GGUFError.invalidValue(key: "\(arch).\(key)", value: .int64(Int64(value)), requirement: requirement).message)
        }
        guard let attention = h.attention, attention.layers.count == h.blockCount else {
            throw ModelError(.invalidHyperparameter, "not every block of this \(arch) model has attention tensors (blk.N.attn_k.weight); Skiff's transformer needs them in all \(h.blockCount)")
        }
        guard let feedForward = h.feedForwardLength else {
            throw ModelError(.invalidHyperparameter, "the model file lacks \(arch).feed_forward_length (a positive integer)")
        }
        guard let vocabulary = h.vocabularySize else {
            throw ModelError(.invalidHyperparameter, "the model file does not say its vocabulary size (\(arch).vocab_size or token_embd.weight)")
        }
        layerCount = h.blockCount
        embeddingLength = h.embeddingLength
        feedForwardLength = feedForward
        headCount = attention.headCount
        kvHeadCount = attention.kvHeadCount
        guard headCount % kvHeadCount == 0 else {
            throw contradiction("attention.head_count_kv", kvHeadCount, "a divisor of \(arch).attention.head_count (\(headCount))")
        }
        headDimension = attention.keyLength
        guard headDimension % 2 == 0 else {
            throw attention.keyLengthIsStated
                ? contradiction("attention.key_length", headDimension, "even (it is a head's size)")
                : contradiction("embedding_length", embeddingLength, "such that a head has an even size (it is \(headDimension))")
        }
        guard attention.valueLength == headDimension else {
            throw contradiction("attention.value_length", attention.valueLength, "equal to the key length \(headDimension) (Skiff caches keys and values of one size)")
        }
        contextLength = h.contextLength
        vocabularySize = vocabulary
        rmsEpsilon = h.rmsEpsilon ?? 1e-5
        ropeFrequencyBase = h.rope.frequencyBase ?? 10000
        ropeDimensionCount = h.rope.dimensionCount ?? headDimension
        guard ropeDimensionCount % 2 == 0 else {
            throw contradiction("rope.dimension_count", ropeDimensionCount, "even (dimensions rotate in pairs)")
        }
        switch h.rope.scalingType {
        case "none":
            ropeScaleFactor = 1
        case "linear":
            ropeScaleFactor = h.rope.scalingFactor ?? 1
        default:
            throw ModelError(.invalidHyperparameter, "RoPE scaling '\(h.rope.scalingType)' is not supported yet (none and linear are)")
        }
        // The widths weights and the KV cache are sized by: each a tensor dimension, and the cache's bytes per
        // token an Int.
        guard !(4 * kvHeadCount * headDimension).multipliedReportingOverflow(by: layerCount).overflow else {
            throw contradiction("block_count", layerCount, "small enough that the KV cache of one token (4 bytes × \(kvHeadCount * headDimension) × blocks) can be counted")
        }
    }

    /// RoPE inverse frequencies θ_i = base^(-2i/n) / scale, for i in 0 ..< n/2, with the file's base and
    /// scale unless others are given (a sliding-window layer's own).
    func ropeInverseFrequencies(base: Float? = nil, scale: Float? = nil, perDimensionFactors: [Float]?) -> [Float] {
        let n = ropeDimensionCount
        let base = Double(base ?? ropeFrequencyBase)
        let scale = scale ?? ropeScaleFactor
        return (0 ..< n / 2).map { i in
            var theta = Float(pow(base, -2.0 * Double(i) / Double(n))) / scale
            if let factors = perDimensionFactors, i < factors.count { theta /= factors[i] }
            return theta
        }
    }
}

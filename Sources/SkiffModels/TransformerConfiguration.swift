import Foundation
import SkiffGGUF

/// The hyper-parameters of a decoder-only transformer, read from a GGUF file's metadata.
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
    /// Whether RoPE pairs dims (i, i + n/2) (NeoX style) instead of (2i, 2i+1).
    public var ropeNeoX: Bool

    /// Reads the hyper-parameters of `file`.
    public init(file: GGUFFile) throws(ModelError) {
        let m = file.metadata
        guard let arch = file.architecture else {
            throw ModelError(.invalidHyperparameter, "the model file has no general.architecture key")
        }
        guard Self.supportedArchitectures.contains(arch) else {
            throw ModelError(.unsupportedArchitecture, "architecture '\(arch)' is not supported; Skiff runs \(Self.supportedArchitectures.sorted().joined(separator: ", "))")
        }
        architecture = arch
        func required(_ key: String) throws(ModelError) -> Int {
            guard let v = m.int("\(arch).\(key)"), v > 0 else {
                throw ModelError(.invalidHyperparameter, "the model file lacks a positive integer '\(arch).\(key)'")
            }
            return v
        }
        layerCount = try required("block_count")
        embeddingLength = try required("embedding_length")
        feedForwardLength = try required("feed_forward_length")
        headCount = try required("attention.head_count")
        kvHeadCount = m.int("\(arch).attention.head_count_kv") ?? headCount
        headDimension = m.int("\(arch).attention.key_length") ?? embeddingLength / headCount
        contextLength = try required("context_length")
        let embedding = file.tensor(named: "token_embd.weight")
        vocabularySize = m.int("\(arch).vocab_size") ?? embedding?.rowCount ?? m.strings("tokenizer.ggml.tokens")?.count ?? 0
        rmsEpsilon = Float(m.double("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5)
        ropeFrequencyBase = Float(m.double("\(arch).rope.freq_base") ?? 10000)
        ropeDimensionCount = m.int("\(arch).rope.dimension_count") ?? headDimension
        let scalingType = m.string("\(arch).rope.scaling.type") ?? "none"
        switch scalingType {
        case "none":
            ropeScaleFactor = 1
        case "linear":
            ropeScaleFactor = Float(m.double("\(arch).rope.scaling.factor") ?? 1)
        default:
            throw ModelError(.invalidHyperparameter, "RoPE scaling '\(scalingType)' is not supported yet (none and linear are)")
        }
        ropeNeoX = arch != "llama"

        guard kvHeadCount > 0, headCount % kvHeadCount == 0 else {
            throw ModelError(.invalidHyperparameter, "\(headCount) query heads cannot be grouped over \(kvHeadCount) key/value heads")
        }
        guard headDimension > 0, headDimension % 2 == 0, ropeDimensionCount <= headDimension, ropeDimensionCount % 2 == 0 else {
            throw ModelError(.invalidHyperparameter, "head dimension \(headDimension) with \(ropeDimensionCount) rotary dimensions is not valid")
        }
        guard vocabularySize > 0 else {
            throw ModelError(.invalidHyperparameter, "the model file does not say its vocabulary size")
        }
        guard ropeScaleFactor > 0, rmsEpsilon > 0, ropeFrequencyBase > 0 else {
            throw ModelError(.invalidHyperparameter, "RoPE base, RoPE scale and RMS epsilon must be positive")
        }
    }

    /// Architectures this configuration describes.
    public static let supportedArchitectures: Set<String> = ["llama"]

    /// Bytes of KV cache one token takes in every layer: 2 × layers × KV heads × head dim × 2 (IEEE half).
    public var kvBytesPerToken: Int { 2 * layerCount * kvHeadCount * headDimension * 2 }

    /// RoPE inverse frequencies θ_i = base^(-2i/n) / scale, for i in 0 ..< n/2.
    func ropeInverseFrequencies(perDimensionFactors: [Float]?) -> [Float] {
        let n = ropeDimensionCount
        return (0 ..< n / 2).map { i in
            var theta = Float(pow(Double(ropeFrequencyBase), -2.0 * Double(i) / Double(n))) / ropeScaleFactor
            if let factors = perDimensionFactors, i < factors.count { theta /= factors[i] }
            return theta
        }
    }
}

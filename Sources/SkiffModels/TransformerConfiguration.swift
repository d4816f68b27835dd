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
    ///
    /// Every value is checked before it is used, so a hostile file fails here with an error naming the key
    /// and its value rather than trapping later: counts and widths are within what a tensor dimension can
    /// be (and `block_count` within the file's tensors), heads divide evenly, head sizes are even, numbers
    /// are finite and positive, and the widths the weights and the KV cache are sized by do not overflow.
    public init(file: GGUFFile) throws(ModelError) {
        let m = file.metadata
        guard let arch = file.architecture else {
            throw ModelError(.invalidHyperparameter, "the model file has no general.architecture key")
        }
        guard Self.supportedArchitectures.contains(arch) else {
            throw ModelError(.unsupportedArchitecture, "architecture '\(arch)' is not supported; Skiff runs \(Self.supportedArchitectures.sorted().joined(separator: ", "))")
        }
        architecture = arch
        /// What `read` reads from the metadata, its error a hyper-parameter error.
        func value<T>(_ read: (GGUFMetadata) throws(GGUFError) -> T) throws(ModelError) -> T {
            do {
                return try read(m)
            } catch {
                throw ModelError(.invalidHyperparameter, error.message)
            }
        }
        func count(_ key: String, upTo limit: Int = Self.maxDimension) throws(ModelError) -> Int? {
            try value { m throws(GGUFError) in try m.int("\(arch).\(key)", in: 1 ... max(1, limit)) }
        }
        func required(_ key: String, upTo limit: Int = Self.maxDimension) throws(ModelError) -> Int {
            guard let v = try count(key, upTo: limit) else {
                throw ModelError(.invalidHyperparameter, "the model file lacks the key '\(arch).\(key)' (a positive integer)")
            }
            return v
        }
        func number(_ key: String) throws(ModelError) -> Float? {
            guard let number = try value({ m throws(GGUFError) in try m.positiveNumber("\(arch).\(key)") }) else { return nil }
            guard Float(number).isFinite, Float(number) > 0 else {
                throw contradiction(key, "a finite number above 0 as a 32-bit float")
            }
            return Float(number)
        }
        /// A present key whose value contradicts another's or what Skiff computes with: "GGUF key 'K' is V; it must be R".
        func contradiction(_ key: String, _ requirement: String) -> ModelError {
            let value = m["\(arch).\(key)"] ?? .array([])
            return ModelError(.invalidHyperparameter, GGUFError.invalidValue(key: "\(arch).\(key)", value: value, requirement: requirement).message)
        }

        // Each block has its own tensors, so there are no more blocks than tensors.
        layerCount = try required("block_count", upTo: file.tensors.count)
        embeddingLength = try required("embedding_length")
        feedForwardLength = try required("feed_forward_length")
        headCount = try required("attention.head_count")
        kvHeadCount = try count("attention.head_count_kv", upTo: headCount) ?? headCount
        guard headCount % kvHeadCount == 0 else {
            throw contradiction("attention.head_count_kv", "a divisor of \(arch).attention.head_count (\(headCount))")
        }
        if let keyLength = try count("attention.key_length") {
            headDimension = keyLength
        } else {
            guard embeddingLength % headCount == 0 else {
                throw contradiction("embedding_length", "a multiple of \(arch).attention.head_count (\(headCount)) when \(arch).attention.key_length is absent")
            }
            headDimension = embeddingLength / headCount
        }
        guard headDimension % 2 == 0 else {
            throw contradiction(m["\(arch).attention.key_length"] == nil ? "embedding_length" : "attention.key_length",
                                "such that a head has an even size (it is \(headDimension))")
        }
        if let valueLength = try count("attention.value_length"), valueLength != headDimension {
            throw contradiction("attention.value_length", "equal to the key length \(headDimension) (Skiff caches keys and values of one size)")
        }
        contextLength = try required("context_length")
        let embedding = file.tensor(named: "token_embd.weight")
        if let stated = try count("vocab_size") {
            if let rows = embedding?.rowCount, rows != stated {
                throw contradiction("vocab_size", "the number of rows of token_embd.weight (\(rows))")
            }
            vocabularySize = stated
        } else {
            vocabularySize = embedding?.rowCount ?? m.strings("tokenizer.ggml.tokens")?.count ?? 0
        }
        rmsEpsilon = try number("attention.layer_norm_rms_epsilon") ?? 1e-5
        ropeFrequencyBase = try number("rope.freq_base") ?? 10000
        ropeDimensionCount = try count("rope.dimension_count", upTo: headDimension) ?? headDimension
        guard ropeDimensionCount % 2 == 0 else {
            throw contradiction("rope.dimension_count", "even (dimensions rotate in pairs)")
        }
        let scalingType = try value { m throws(GGUFError) in try m.checkedString("\(arch).rope.scaling.type") } ?? "none"
        switch scalingType {
        case "none":
            ropeScaleFactor = 1
        case "linear":
            ropeScaleFactor = try number("rope.scaling.factor") ?? 1
        default:
            throw ModelError(.invalidHyperparameter, "RoPE scaling '\(scalingType)' is not supported yet (none and linear are)")
        }
        ropeNeoX = arch != "llama"

        guard (1 ... Self.maxDimension).contains(vocabularySize) else {
            throw ModelError(.invalidHyperparameter, "the model file does not say its vocabulary size (\(arch).vocab_size or token_embd.weight)")
        }
        // The widths weights and the KV cache are sized by: each a tensor dimension, and the cache's bytes per
        // token an Int.
        for (width, what) in [(headCount, "attention.head_count"), (kvHeadCount, "attention.head_count_kv")] {
            let (product, overflow) = width.multipliedReportingOverflow(by: headDimension)
            guard !overflow, product <= Self.maxDimension else {
                throw contradiction(what, "such that heads × head size (\(headDimension)) is at most \(Self.maxDimension)")
            }
        }
        guard !(4 * kvHeadCount * headDimension).multipliedReportingOverflow(by: layerCount).overflow else {
            throw contradiction("block_count", "small enough that the KV cache of one token (4 bytes × \(kvHeadCount * headDimension) × blocks) can be counted")
        }
    }

    /// The largest a width or count may be: a tensor dimension's limit (`GGUFFile` refuses larger ones).
    static let maxDimension = Int(Int32.max)

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

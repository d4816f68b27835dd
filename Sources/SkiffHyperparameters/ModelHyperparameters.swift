import SkiffGGUF

/// The hyper-parameters the GGUF specification standardizes for language models (`{arch}.block_count`,
/// `{arch}.attention.head_count`, ...), read and checked once for every reader: the engine's loader and
/// sizing both start here.
///
/// Every value is checked before it is returned, so a hostile file fails with an error naming the key and
/// its value: counts and widths are within what a tensor dimension can be (`block_count` within the file's
/// tensors), key/value heads at most the query heads, numbers finite and above zero, and the products the
/// KV cache and recurrent state are sized by countable. What a particular engine additionally needs (heads
/// that divide evenly, even head sizes) is for that engine to check.
public struct ModelHyperparameters: Sendable, Equatable {
    /// `general.architecture`, e.g. `llama` or `gemma3`.
    public var architecture: String
    /// Number of blocks (attention and state-space layers together).
    public var blockCount: Int
    /// Width of the residual stream.
    public var embeddingLength: Int
    /// Hidden width of the feed-forward network, when the file states it.
    public var feedForwardLength: Int?
    /// The longest context the model was trained for, in tokens.
    public var contextLength: Int
    /// Rows of the token embedding (`{arch}.vocab_size`, checked against `token_embd.weight`, else its rows,
    /// else the tokenizer's token count), when any of those is present.
    public var vocabularySize: Int?
    /// The attention layers; nil when no block attends.
    public var attention: Attention?
    /// The Mamba-2 layers; nil when there are none.
    public var stateSpace: StateSpace?
    /// Experts per layer and experts per token, for a mixture of experts.
    public var experts: Experts?
    /// RMSNorm epsilon (`attention.layer_norm_rms_epsilon`), when stated.
    public var rmsEpsilon: Float?
    /// Rotary position embedding settings.
    public var rope: Rope
    /// The cap of final logits (`final_logit_softcapping`: logits become cap × tanh(logit / cap)), when stated.
    public var finalLogitSoftcapping: Float?

    /// The attention of a model's attending blocks.
    public struct Attention: Sendable, Equatable {
        /// Query heads.
        public var headCount: Int
        /// Key/value heads (grouped-query attention when fewer than `headCount`).
        public var kvHeadCount: Int
        /// Width of one key head (`attention.key_length`, else embedding length ÷ heads).
        public var keyLength: Int
        /// Whether the file states the key length (else it is derived from the embedding length).
        public var keyLengthIsStated: Bool
        /// Width of one value head (`attention.value_length`, else the key length).
        public var valueLength: Int
        /// The blocks that attend, in order (read from tensor names, so hybrids are counted layer by layer).
        public var layers: [Int]
        /// One entry per attending block: nil for full attention, else its sliding window in tokens.
        public var windows: [Int?]
    }

    /// A model's Mamba-2 layers, which keep a constant-size state per sequence.
    public struct StateSpace: Sendable, Equatable {
        /// The blocks that are Mamba-2 layers, in order.
        public var layers: [Int]
        /// Width of the inner (expanded) stream.
        public var innerSize: Int
        /// State dimension N per head.
        public var stateSize: Int
        /// Groups sharing B and C.
        public var groupCount: Int
        /// SSM heads (`ssm.time_step_rank`).
        public var headCount: Int
        /// Width of the causal convolution.
        public var convKernel: Int
    }

    /// The experts of a mixture-of-experts model.
    public struct Experts: Sendable, Equatable {
        /// Experts per layer.
        public var count: Int
        /// Experts each token is routed to.
        public var usedPerToken: Int
    }

    /// Rotary position embedding settings.
    public struct Rope: Sendable, Equatable {
        /// Base frequency (`rope.freq_base`), when stated.
        public var frequencyBase: Float?
        /// Base frequency of the sliding-window layers (`rope.freq_base_swa`), when stated.
        public var slidingWindowFrequencyBase: Float?
        /// Dimensions of each head that rotate (`rope.dimension_count`), when stated.
        public var dimensionCount: Int?
        /// `rope.scaling.type`: `none` when absent.
        public var scalingType: String
        /// `rope.scaling.factor`, when stated.
        public var scalingFactor: Float?
    }

    /// The largest a width or count may be: a tensor dimension's limit (`GGUFFile` refuses larger ones).
    public static let maxDimension = Int(Int32.max)

    /// Reads the hyper-parameters of `file`.
    /// - Throws: `GGUFError` `.missingKey` listing every required key the file lacks, or `.invalidValue`
    ///   naming a key whose value cannot be used.
    public init(file: GGUFFile) throws(GGUFError) {
        let m = file.metadata
        guard let arch = file.architecture else {
            throw GGUFError(.missingKey, "the model file has no general.architecture key")
        }
        architecture = arch
        var missing: [String] = []
        func count(_ key: String, upTo limit: Int = Self.maxDimension) throws(GGUFError) -> Int? {
            try m.int("\(arch).\(key)", in: 1 ... max(1, limit))
        }
        func required(_ key: String, upTo limit: Int = Self.maxDimension) throws(GGUFError) -> Int {
            guard let v = try count(key, upTo: limit) else { missing.append("\(arch).\(key)"); return 0 }
            return v
        }
        func checkMissing() throws(GGUFError) {
            guard missing.isEmpty else {
                throw GGUFError(.missingKey, "the model file lacks \(missing.joined(separator: ", ")) (a positive integer each)")
            }
        }
        func number(_ key: String) throws(GGUFError) -> Float? {
            guard let number = try m.positiveNumber("\(arch).\(key)") else { return nil }
            guard Float(number).isFinite, Float(number) > 0 else {
                throw Self.invalid(m, "\(arch).\(key)", "a finite number above 0 as a 32-bit float")
            }
            return Float(number)
        }

        // Each block has its own tensors, so there are no more blocks than tensors.
        blockCount = try required("block_count", upTo: file.tensors.count)
        embeddingLength = try required("embedding_length")
        contextLength = try required("context_length")
        try checkMissing()
        feedForwardLength = try count("feed_forward_length")

        let embedding = file.tensor(named: "token_embd.weight")
        if let stated = try count("vocab_size") {
            if let rows = embedding?.rowCount, rows != stated {
                throw Self.invalid(m, "\(arch).vocab_size", "the number of rows of token_embd.weight (\(rows))")
            }
            vocabularySize = stated
        } else {
            vocabularySize = embedding?.rowCount ?? m.strings("tokenizer.ggml.tokens")?.count
        }

        let blocks = 0 ..< blockCount
        let attending = blocks.filter {
            file.tensor(named: "blk.\($0).attn_k.weight") != nil || file.tensor(named: "blk.\($0).attn_qkv.weight") != nil
        }
        if attending.isEmpty {
            attention = nil
        } else {
            let heads = try required("attention.head_count")
            try checkMissing()
            let kvHeads = try count("attention.head_count_kv", upTo: heads) ?? heads
            let keyLength: Int
            let statedKeyLength = try count("attention.key_length")
            if let stated = statedKeyLength {
                keyLength = stated
            } else {
                guard embeddingLength % heads == 0 else {
                    throw Self.invalid(m, "\(arch).embedding_length",
                                       "a multiple of \(arch).attention.head_count (\(heads)) when \(arch).attention.key_length is absent")
                }
                keyLength = embeddingLength / heads
            }
            let valueLength = try count("attention.value_length") ?? keyLength
            // Queries, keys and values are each one tensor's rows, so their widths are within a dimension's limit.
            for (width, key) in [(heads * keyLength, "attention.head_count"), (kvHeads * max(keyLength, valueLength), "attention.head_count_kv")]
            where width > Self.maxDimension {
                throw Self.invalid(m, "\(arch).\(key)", "such that heads × head size is at most \(Self.maxDimension)")
            }
            // One sequence's keys and values at full context in fp32 must be countable, with room to multiply
            // by the sequences a plan holds: at most 128 TiB (a 405B model's is about 128 GiB).
            guard let sequenceBytes = checkedProduct(4, kvHeads, keyLength + valueLength, attending.count, contextLength),
                  sequenceBytes <= 1 << 47 else {
                throw Self.invalid(m, "\(arch).context_length", "small enough that one sequence's KV cache is at most 128 TiB "
                                   + "(\(attending.count) attention layers × \(kvHeads) KV heads × \(keyLength + valueLength) key and value widths)")
            }
            attention = Attention(headCount: heads, kvHeadCount: kvHeads, keyLength: keyLength,
                                  keyLengthIsStated: statedKeyLength != nil, valueLength: valueLength, layers: attending, windows: try Self.windows(of: attending, in: file, blockCount: blockCount))
        }

        let mamba = blocks.filter { file.tensor(named: "blk.\($0).ssm_in.weight") != nil }
        if mamba.isEmpty {
            stateSpace = nil
        } else {
            let inner = try required("ssm.inner_size")
            let state = try required("ssm.state_size")
            let kernel = try required("ssm.conv_kernel")
            let heads = try required("ssm.time_step_rank")
            try checkMissing()
            let groups = try count("ssm.group_count") ?? 1
            // A sequence's state (elements per layer × layers × up to 4 bytes) must be countable.
            let convolutionWidth = checkedProduct(2, groups, state).flatMap { checkedSum(inner, $0) }
            let elements = checkedSum(checkedProduct(inner, state), convolutionWidth.flatMap { checkedProduct(kernel - 1, $0) })
            guard elements.flatMap({ checkedProduct(4, $0, mamba.count) }) != nil else {
                throw Self.invalid(m, "\(arch).ssm.state_size", "small enough for a sequence's state to be counted (inner size \(inner), \(mamba.count) layers)")
            }
            stateSpace = StateSpace(layers: mamba, innerSize: inner, stateSize: state, groupCount: groups, headCount: heads, convKernel: kernel)
        }

        if let expertCount = try count("expert_count"), expertCount > 1 {
            experts = Experts(count: expertCount, usedPerToken: try count("expert_used_count", upTo: expertCount) ?? 1)
        } else {
            experts = nil
        }

        rmsEpsilon = try number("attention.layer_norm_rms_epsilon")
        let scalingType = try m.checkedString("\(arch).rope.scaling.type") ?? "none"
        finalLogitSoftcapping = try number("final_logit_softcapping")
        rope = Rope(frequencyBase: try number("rope.freq_base"), slidingWindowFrequencyBase: try number("rope.freq_base_swa"),
                    dimensionCount: try count("rope.dimension_count", upTo: attention?.keyLength ?? Self.maxDimension),
                    scalingType: scalingType, scalingFactor: try number("rope.scaling.factor"))
    }

    /// The sliding window of each attending block (nil: full attention), from `attention.sliding_window` and
    /// either `attention.sliding_window_pattern` (every how many layers a full-attention layer comes, or in
    /// newer files one boolean per block) or the architecture's own layout (`slidingWindowLayers`).
    private static func windows(of attending: [Int], in file: GGUFFile, blockCount: Int) throws(GGUFError) -> [Int?] {
        let m = file.metadata
        let arch = file.architecture ?? ""
        guard let window = try m.int("\(arch).attention.sliding_window", in: 1 ... maxDimension) else {
            return attending.map { _ in nil }
        }
        let patternKey = "\(arch).attention.sliding_window_pattern"
        let layers: SlidingWindowLayers
        if let value = m[patternKey] {
            if let elements = value.array {
                let flags = elements.compactMap(\.bool)
                guard flags.count == elements.count, flags.count == blockCount else {
                    throw invalid(m, patternKey, "an integer from 1 to \(blockCount) or one boolean per block (\(blockCount))")
                }
                return attending.map { flags[$0] ? window : nil }
            }
            layers = .allButEvery(try m.int(patternKey, in: 1 ... blockCount) ?? 1)
        } else {
            layers = slidingWindowLayers(architecture: arch)
        }
        switch layers {
        case .none: return attending.map { _ in nil }
        case .every: return attending.map { _ in window }
        case .allButEvery(let n): return attending.map { ($0 + 1) % n == 0 ? nil : window }
        }
    }

    /// Which layers a file's `attention.sliding_window` bounds when it has no `sliding_window_pattern`.
    enum SlidingWindowLayers {
        /// None: the window is ignored (Phi-3's and Qwen 2's files state one their models do not use; llama.cpp
        /// ignores them too).
        case none
        /// Every layer (Mistral 7B, a `llama` file).
        case every
        /// All but every n-th layer, which attends globally (llama.cpp's layout of Gemma 2 and 3; n = 1: none).
        case allButEvery(Int)
    }

    static func slidingWindowLayers(architecture: String) -> SlidingWindowLayers {
        switch architecture {
        case "llama": .every
        case "gemma2": .allButEvery(2)
        case "gemma3", "gemma3_text": .allButEvery(6)
        default: .none
        }
    }

    /// "GGUF key 'K' is V; it must be R" for a present key.
    static func invalid(_ m: GGUFMetadata, _ key: String, _ requirement: String) -> GGUFError {
        .invalidValue(key: key, value: m[key] ?? .array([]), requirement: requirement)
    }
}

/// `a + b`, or nil when either is nil or the sum overflows.
private func checkedSum(_ a: Int?, _ b: Int?) -> Int? {
    guard let a, let b else { return nil }
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? nil : sum
}

/// The product of `factors`, or nil when it overflows.
private func checkedProduct(_ factors: Int...) -> Int? {
    var product = 1
    for factor in factors {
        let (next, overflow) = product.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        product = next
    }
    return product
}

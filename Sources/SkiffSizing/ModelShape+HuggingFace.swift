import Foundation
import SkiffHyperparameters

extension ModelShape {
    /// Architectures (`model_type`) a Hugging Face `config.json` may name.
    public static let huggingFaceModelTypes: [String] = [
        "llama", "mistral", "qwen2", "qwen3", "gemma3", "gemma3_text", "mixtral", "qwen2_moe", "qwen3_moe", "mamba2", "llamba",
    ]

    /// Reads the shape of a model from its Hugging Face `config.json` (what a vLLM deployment serves).
    ///
    /// Parameters are counted from the geometry: embeddings (and an untied output head), attention
    /// projections (with biases for Qwen2), gated feed-forward networks or experts with their router, norms;
    /// for Mamba-2 and Llamba, the input and output projections, the convolution and the per-head parameters
    /// (and Llamba's MLP). Throws naming every missing field at once.
    public init(huggingFaceConfig data: Data, name: String) throws(SizingError) {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw SizingError(.model, "\(name) is not a JSON object")
        }
        if LlambaConfig.describes(root) {
            do { try self.init(llamba: LlambaConfig(json: root, path: name), name: name) } catch { throw SizingError(.model, error.message) }
            return
        }
        // Gemma 3's multimodal configs nest the language model under text_config.
        let config = (root["text_config"] as? [String: Any]).map { root.merging($0) { _, text in text } } ?? root
        guard let type = (config["model_type"] as? String).map({ $0 == "gemma3" && root["text_config"] != nil ? "gemma3_text" : $0 }) else {
            throw SizingError(.model, "\(name) has no model_type; it must be one of \(Self.huggingFaceModelTypes.joined(separator: ", "))")
        }
        guard Self.huggingFaceModelTypes.contains(type) else {
            throw SizingError(.model, "\(name) has model_type '\(type)'; sizing knows \(Self.huggingFaceModelTypes.joined(separator: ", "))")
        }
        var reader = ConfigReader(config: config, name: name)
        if type == "mamba2" {
            try self.init(mamba2: &reader, type: type, name: name)
        } else {
            try self.init(transformer: &reader, type: type, name: name)
        }
    }

    private init(transformer c: inout ConfigReader, type: String, name: String) throws(SizingError) {
        let isGemma = type.hasPrefix("gemma3")
        let hidden = c.int("hidden_size")
        let layers = c.int("num_hidden_layers")
        let heads = c.int("num_attention_heads")
        let vocabulary = c.int("vocab_size")
        let context = c.int("max_position_embeddings")
        let expertCount = c.optionalInt("num_local_experts") ?? c.optionalInt("num_experts") ?? 0
        let intermediate = expertCount > 1 && c.optionalInt("moe_intermediate_size") != nil
            ? c.int("moe_intermediate_size") : c.int("intermediate_size")
        let expertsPerToken = expertCount > 1 ? c.int("num_experts_per_tok") : 0
        try c.check()
        let kvHeads = c.optionalInt("num_key_value_heads") ?? heads
        let headDimension = c.optionalInt("head_dim") ?? hidden / heads
        let tied = c.bool("tie_word_embeddings") ?? isGemma

        var windows = [Int?](repeating: nil, count: layers)
        if let window = c.optionalInt("sliding_window"), window > 0 {
            if let types = c.config["layer_types"] as? [String], types.count == layers {
                windows = types.map { $0 == "sliding_attention" ? window : nil }
            } else if isGemma {
                let pattern = c.optionalInt("sliding_window_pattern") ?? 6
                windows = (0 ..< layers).map { ($0 + 1) % pattern == 0 ? nil : window }
            } else if type == "mistral" || c.bool("use_sliding_window") == true {
                windows = Array(repeating: window, count: layers)
            }
        }

        let q = heads * headDimension, kv = kvHeads * headDimension
        var attention = hidden * q + 2 * hidden * kv + q * hidden
        if type == "qwen2" || type == "qwen2_moe" || c.bool("attention_bias") == true { attention += q + 2 * kv }
        if type == "qwen3" || type == "qwen3_moe" || isGemma { attention += 2 * headDimension }
        let norms = (isGemma ? 4 : 2) * hidden
        let mlp = 3 * hidden * intermediate
        var expertParameters = 0, denseFeedForward = mlp
        if expertCount > 1 {
            expertParameters = layers * expertCount * mlp
            denseFeedForward = hidden * expertCount
            if let shared = c.optionalInt("shared_expert_intermediate_size"), shared > 0 {
                denseFeedForward += 3 * hidden * shared + hidden
            }
        }
        let perLayer = attention + norms + denseFeedForward
        let embeddings = vocabulary * hidden * (tied ? 1 : 2) + hidden
        let parameters = embeddings + layers * perLayer + expertParameters
        let active = expertCount > 1 ? parameters - expertParameters + layers * expertsPerToken * mlp : parameters
        self.init(
            name: name, architecture: type, contextLength: context, hiddenSize: hidden, layerCount: layers,
            headCount: heads, kvHeadCount: kvHeads, keyLength: headDimension, valueLength: headDimension,
            attentionWindows: windows, stateSpace: nil,
            experts: expertCount > 1 ? ExpertShape(count: expertCount, activePerToken: expertsPerToken, parameterCount: expertParameters) : nil,
            parameterCount: parameters, activeParameterCount: active)
    }

    private init(mamba2 c: inout ConfigReader, type: String, name: String) throws(SizingError) {
        let hidden = c.int("hidden_size")
        let layers = c.int("num_hidden_layers")
        let state = c.int("state_size")
        let vocabulary = c.int("vocab_size")
        let ssmHeads = c.int("num_heads")
        try c.check()
        let expand = c.optionalInt("expand") ?? 2
        let groups = c.optionalInt("n_groups") ?? 1
        let kernel = c.optionalInt("conv_kernel") ?? 4
        let inner = expand * hidden
        let shape = StateSpaceShape(layers: layers, innerSize: inner, stateSize: state, groupCount: groups, headCount: ssmHeads, convKernel: kernel)
        let convolved = inner + 2 * groups * state
        let perLayer = hidden * (inner + convolved + ssmHeads) // in_proj: z, x, B, C, dt
            + convolved * (kernel + 1) // conv1d weight and bias
            + 3 * ssmHeads // dt_bias, A_log, D
            + inner // gated norm
            + inner * hidden // out_proj
            + hidden // block norm
        let tied = c.bool("tie_word_embeddings") ?? false
        let parameters = vocabulary * hidden * (tied ? 1 : 2) + hidden + layers * perLayer
        self.init(
            name: name, architecture: type, contextLength: c.optionalInt("max_position_embeddings") ?? Int(Int32.max),
            hiddenSize: hidden, layerCount: layers, headCount: 0, kvHeadCount: 0, keyLength: 0, valueLength: 0,
            attentionWindows: [], stateSpace: shape, experts: nil, parameterCount: parameters, activeParameterCount: parameters)
    }
}

extension ModelShape {
    /// Cartesia's Llamba: discrete Mamba-2 mixers (in_proj to xBC, z and A_log; the convolution; z's bias and
    /// D) and Llama's MLP in every block.
    private init(llamba c: LlambaConfig, name: String) {
        let d = c.embeddingLength, channels = c.convolutionChannels
        let mixer = d * c.projectionWidth + channels * c.convKernel + c.headCount + c.innerSize * d
            + (c.projectionBias ? c.projectionWidth + d : c.innerSize) + (c.convolutionBias ? channels : 0)
        let perLayer = mixer + 3 * d * c.feedForwardLength + 2 * d
        let parameters = c.vocabularyRows * d * (c.tiedEmbeddings ? 1 : 2) + d + c.blockCount * perLayer
            + (c.headBias && !c.tiedEmbeddings ? c.vocabularyRows : 0)
        let shape = StateSpaceShape(layers: c.blockCount, innerSize: c.innerSize, stateSize: c.stateSize, groupCount: c.groupCount,
                                    headCount: c.headCount, convKernel: c.convKernel)
        self.init(
            name: name, architecture: "llamba", contextLength: c.contextLength ?? Int(Int32.max),
            hiddenSize: d, layerCount: c.blockCount, headCount: 0, kvHeadCount: 0, keyLength: 0, valueLength: 0,
            attentionWindows: [], stateSpace: shape, experts: nil, parameterCount: parameters, activeParameterCount: parameters)
    }
}

/// Reads fields of a `config.json`, collecting the names of missing ones so they are reported together.
private struct ConfigReader {
    let config: [String: Any]
    let name: String
    var missing: [String] = []

    init(config: [String: Any], name: String) {
        self.config = config
        self.name = name
    }

    mutating func int(_ key: String) -> Int {
        guard let value = optionalInt(key), value > 0 else { missing.append(key); return 1 }
        return value
    }

    func optionalInt(_ key: String) -> Int? {
        (config[key] as? NSNumber).flatMap { $0.doubleValue == $0.doubleValue.rounded() ? $0.intValue : nil }
    }

    func bool(_ key: String) -> Bool? { (config[key] as? NSNumber)?.boolValue }

    func check() throws(SizingError) {
        guard missing.isEmpty else {
            throw SizingError(.model, "\(name) lacks \(missing.joined(separator: ", ")) (or has a non-positive value there)")
        }
    }
}

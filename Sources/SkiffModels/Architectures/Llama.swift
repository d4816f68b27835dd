import SkiffGGUF
import SkiffHyperparameters

/// The llama block and the architectures that are it with small differences: RMSNorm before attention and
/// before the feed-forward network, RoPE on queries and keys, grouped-query attention, a SwiGLU feed-forward
/// network, a tied or separate output head.
///
/// - `llama`: RoPE on adjacent pairs; a `sliding_window` in the file (Mistral 7B) bounds every layer's
///   attention (`ModelHyperparameters` says which layers a window bounds). Checked against llama.cpp with
///   SmolLM2-135M (docs/correctness.md).
/// - `qwen2`: RoPE on NeoX pairs, biases on the query, key and value projections.
/// - `qwen3`: RoPE on NeoX pairs, RMSNorm of each query and key head (QK-norm).
/// - `phi3`: RoPE on NeoX pairs, the query, key and value projections fused in one matrix (`attn_qkv`) and
///   the gate and up projections in another (`ffn_up`, gate rows first), split into their parts at load.
///   LongRoPE files (`rope_factors_long`) are refused.
///
/// Any of them may carry biases on the projections and the output head; those present are added.
final class Llama: LanguageModel {
    /// How an architecture differs from `llama`.
    struct Variant: Sendable {
        /// RoPE pairs (i, i + n/2) rather than (2i, 2i+1).
        var neox = false
        /// RMSNorm of each query and key head before RoPE.
        var queryKeyNorm = false
    }

    /// The architectures this file runs.
    static let variants: [String: Variant] = [
        "llama": Variant(),
        "qwen2": Variant(neox: true),
        "qwen3": Variant(neox: true, queryKeyNorm: true),
        "phi3": Variant(neox: true),
    ]

    struct Layer: Sendable {
        let attentionNorm: [Float]
        let query: WeightMatrix
        let key: WeightMatrix
        let value: WeightMatrix
        let queryBias, keyBias, valueBias: [Float]?
        let queryNorm, keyNorm: [Float]?
        let attentionOutput: WeightMatrix
        let attentionOutputBias: [Float]?
        let feedForwardNorm: [Float]
        let gate: WeightMatrix
        let up: WeightMatrix
        let down: WeightMatrix
    }

    let configuration: TransformerConfiguration
    let variant: Variant
    let embedding: TokenEmbedding
    let layers: [Layer]
    let outputNorm: [Float]
    let output: WeightMatrix
    let outputBias: [Float]?
    let ropeInverseFrequencies: [Float]
    let weightBytes: Int
    let cacheLayout: CacheLayout

    var contextLength: Int { configuration.contextLength }
    var vocabularySize: Int { configuration.vocabularySize }
    /// The block's activations and the head's input.
    static func activationBytesPerToken(_ h: ModelHyperparameters) throws(ModelError) -> Int {
        let c = try TransformerConfiguration(h)
        return 4 * (BlockActivations<CPUBackend>.widths(c).reduce(0, +) + c.embeddingLength)
    }

    /// Loads and repacks the weights of `file`; `progress` gets (blocks done, blocks + 1).
    init(file: GGUFFile, hyperparameters h: ModelHyperparameters, packWeights: Bool, progress: (Int, Int) -> Void) throws(ModelError) {
        let c = try TransformerConfiguration(h)
        guard let variant = Self.variants[c.architecture] else {
            throw ModelError(.unsupportedArchitecture, "architecture '\(c.architecture)' is not a llama variant")
        }
        configuration = c
        self.variant = variant
        let w = WeightLoader(file: file, packWeights: packWeights)
        guard !w.has("rope_factors_long.weight"), !w.has("blk.0.rope_factors_long.weight") else {
            throw ModelError(.unsupportedTensor, "this model uses LongRoPE (rope_factors_long), which Skiff does not implement yet")
        }
        cacheLayout = CacheLayout(h)
        let d = c.embeddingLength
        let ffn = c.feedForwardLength
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension
        var layers: [Layer] = []
        for i in 0 ..< c.layerCount {
            let p = "blk.\(i)."
            let q, k, v: WeightMatrix
            let qBias, kBias, vBias: [Float]?
            if w.has(p + "attn_qkv.weight") {
                let fused = qWidth + 2 * kvWidth
                q = try w.matrix(p + "attn_qkv.weight", columns: d, rows: fused, slice: 0 ..< qWidth)
                k = try w.matrix(p + "attn_qkv.weight", columns: d, rows: fused, slice: qWidth ..< qWidth + kvWidth)
                v = try w.matrix(p + "attn_qkv.weight", columns: d, rows: fused, slice: qWidth + kvWidth ..< fused)
                let bias = try w.optionalVector(p + "attn_qkv.bias", fused)
                (qBias, kBias, vBias) = (bias.map { Array($0[0 ..< qWidth]) }, bias.map { Array($0[qWidth ..< qWidth + kvWidth]) },
                                         bias.map { Array($0[(qWidth + kvWidth)...]) })
            } else {
                q = try w.matrix(p + "attn_q.weight", columns: d, rows: qWidth)
                k = try w.matrix(p + "attn_k.weight", columns: d, rows: kvWidth)
                v = try w.matrix(p + "attn_v.weight", columns: d, rows: kvWidth)
                (qBias, kBias, vBias) = (try w.optionalVector(p + "attn_q.bias", qWidth), try w.optionalVector(p + "attn_k.bias", kvWidth),
                                         try w.optionalVector(p + "attn_v.bias", kvWidth))
            }
            let gate, up: WeightMatrix
            if w.has(p + "ffn_gate.weight") {
                gate = try w.matrix(p + "ffn_gate.weight", columns: d, rows: ffn)
                up = try w.matrix(p + "ffn_up.weight", columns: d, rows: ffn)
            } else {
                gate = try w.matrix(p + "ffn_up.weight", columns: d, rows: 2 * ffn, slice: 0 ..< ffn)
                up = try w.matrix(p + "ffn_up.weight", columns: d, rows: 2 * ffn, slice: ffn ..< 2 * ffn)
            }
            layers.append(Layer(
                attentionNorm: try w.vector(p + "attn_norm.weight", d),
                query: q, key: k, value: v, queryBias: qBias, keyBias: kBias, valueBias: vBias,
                queryNorm: variant.queryKeyNorm ? try w.vector(p + "attn_q_norm.weight", c.headDimension) : nil,
                keyNorm: variant.queryKeyNorm ? try w.vector(p + "attn_k_norm.weight", c.headDimension) : nil,
                attentionOutput: try w.matrix(p + "attn_output.weight", columns: qWidth, rows: d),
                attentionOutputBias: try w.optionalVector(p + "attn_output.bias", d),
                feedForwardNorm: try w.vector(p + "ffn_norm.weight", d),
                gate: gate, up: up,
                down: try w.matrix(p + "ffn_down.weight", columns: ffn, rows: d)))
            progress(i + 1, c.layerCount + 1)
        }
        self.layers = layers
        outputNorm = try w.vector("output_norm.weight", d)
        (embedding, output) = try w.embeddingAndOutput(width: d, vocabulary: c.vocabularySize)
        outputBias = try w.optionalVector("output.bias", c.vocabularySize)
        ropeInverseFrequencies = c.ropeInverseFrequencies(perDimensionFactors: try w.ropeFactors(pairs: c.ropeDimensionCount / 2))
        weightBytes = w.bytes
        progress(c.layerCount + 1, c.layerCount + 1)
    }

    func makeRunner(_ options: RunnerOptions) throws(ModelError) -> any ModelRunner {
        switch options.device {
        case .cpu: try LlamaRunner<CPUBackend>(model: self, options: options)
        case .vulkan: try LlamaRunner<VulkanBackend>(model: self, options: options)
        }
    }
}

/// A llama-family model's forward pass over a batch, on `Backend`.
final class LlamaRunner<Backend: ComputeBackend>: BackendRunner {
    let model: Llama
    let backend: Backend

    private let a: BlockActivations<Backend>

    init(model: Llama, options: RunnerOptions) throws(ModelError) {
        backend = try BlockActivations<Backend>.backend(options, model.cacheLayout, model.configuration)
        self.model = model
        a = try BlockActivations(backend, model.configuration)
    }

    func forward(_ batch: ForwardBatch) throws(ModelError) -> [Float] {
        let c = model.configuration
        let (x, normed, queries, keys, values, attention, gate, up) = (a.x, a.normed, a.queries, a.keys, a.values, a.attention, a.gate, a.up)
        let b = backend
        let epsilon = c.rmsEpsilon
        let neox = model.variant.neox
        try b.begin(batch, vocabularySize: c.vocabularySize)
        let frequencies = model.ropeInverseFrequencies
        try b.embed(model.embedding, into: x, scale: 1)
        for (l, layer) in model.layers.enumerated() {
            // Attention: h = x + Wo · attend(rope(Wq · norm(x)), rope(Wk · norm(x)), Wv · norm(x)).
            b.rmsNorm(x, weight: layer.attentionNorm, groups: 1, epsilon: epsilon, into: normed)
            try b.matmuls([(layer.query, queries), (layer.key, keys), (layer.value, values)], input: normed)
            if let bias = layer.queryBias { b.addBias(bias, to: queries) }
            if let bias = layer.keyBias { b.addBias(bias, to: keys) }
            if let bias = layer.valueBias { b.addBias(bias, to: values) }
            if let norm = layer.queryNorm { b.rmsNorm(queries, weight: norm, groups: c.headCount, epsilon: epsilon, into: queries) }
            if let norm = layer.keyNorm { b.rmsNorm(keys, weight: norm, groups: c.kvHeadCount, epsilon: epsilon, into: keys) }
            b.rope(queries, heads: c.headCount, headDimension: c.headDimension, inverseFrequencies: frequencies, neox: neox)
            b.rope(keys, heads: c.kvHeadCount, headDimension: c.headDimension, inverseFrequencies: frequencies, neox: neox)
            b.storeKeysAndValues(layer: l, keys: keys, values: values)
            try b.attend(layer: l, queries: queries, heads: c.headCount, headDimension: c.headDimension,
                         scale: 1 / Float(c.headDimension).squareRoot(), into: attention)
            try b.matmul(layer.attentionOutput, input: attention, into: x, accumulate: true)
            if let bias = layer.attentionOutputBias { b.addBias(bias, to: x) }

            // Feed-forward: x = h + W2 · (silu(W1 · norm(h)) ⊙ W3 · norm(h)).
            b.rmsNorm(x, weight: layer.feedForwardNorm, groups: 1, epsilon: epsilon, into: normed)
            try b.matmuls([(layer.gate, gate), (layer.up, up)], input: normed)
            b.swiglu(gate: gate, up: up)
            try b.matmul(layer.down, input: gate, into: x, accumulate: true)
        }
        return try b.logits(x, norm: model.outputNorm, epsilon: epsilon, output: model.output, bias: model.outputBias)
    }
}

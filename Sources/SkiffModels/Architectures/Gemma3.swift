import SkiffGGUF
import SkiffHyperparameters

/// `gemma3`: token embeddings scaled by √width; in every block RMSNorm before and after attention and
/// before and after the feed-forward network (the "sandwich"), RMSNorm of each query and key head (QK-norm),
/// RoPE on NeoX pairs, grouped-query attention, a GELU-gated feed-forward network (tanh approximation); the
/// output head tied to the embedding. Five of every six layers attend over a sliding window with their own
/// RoPE base (`rope.freq_base_swa`, 10 000 when absent); every sixth attends globally with `rope.freq_base`
/// and the file's RoPE scaling. As llama.cpp computes it (its norm weights already hold Gemma's 1 + w).
final class Gemma3: LanguageModel {
    struct Layer: Sendable {
        let attentionNorm: [Float]
        let query: WeightMatrix
        let key: WeightMatrix
        let value: WeightMatrix
        let queryNorm: [Float]
        let keyNorm: [Float]
        let attentionOutput: WeightMatrix
        let postAttentionNorm: [Float]
        let feedForwardNorm: [Float]
        let gate: WeightMatrix
        let up: WeightMatrix
        let down: WeightMatrix
        let postFeedForwardNorm: [Float]
        /// RoPE inverse frequencies of this layer's kind (sliding or global).
        let ropeInverseFrequencies: [Float]
    }

    let configuration: TransformerConfiguration
    let embedding: TokenEmbedding
    let layers: [Layer]
    let outputNorm: [Float]
    let output: WeightMatrix
    /// The scale of attention scores: 1/√(head size), but 1/√(width ÷ heads) for the 27B model (62 blocks),
    /// as Gemma's reference sets `query_pre_attn_scalar`.
    let attentionScale: Float
    let weightBytes: Int
    let cacheLayout: CacheLayout

    var contextLength: Int { configuration.contextLength }
    var vocabularySize: Int { configuration.vocabularySize }
    /// The block's activations, the post-norm branch and the head's input.
    static func activationBytesPerToken(_ h: ModelHyperparameters) throws(ModelError) -> Int {
        let c = try TransformerConfiguration(h)
        return 4 * (BlockActivations<CPUBackend>.widths(c).reduce(0, +) + 2 * c.embeddingLength)
    }

    /// Loads and repacks the weights of `file`; `progress` gets (blocks done, blocks + 1).
    init(file: GGUFFile, hyperparameters h: ModelHyperparameters, packWeights: Bool, progress: (Int, Int) -> Void) throws(ModelError) {
        let c = try TransformerConfiguration(h)
        if let cap = h.finalLogitSoftcapping {
            throw ModelError(.invalidHyperparameter, "this gemma3 file caps its logits (gemma3.final_logit_softcapping = \(cap)), which Skiff does not implement")
        }
        configuration = c
        cacheLayout = CacheLayout(h)
        attentionScale = 1 / Float(c.layerCount == 62 ? c.embeddingLength / c.headCount : c.headDimension).squareRoot()
        let w = WeightLoader(file: file, packWeights: packWeights)
        let factors = try w.ropeFactors(pairs: c.ropeDimensionCount / 2)
        let global = c.ropeInverseFrequencies(perDimensionFactors: factors)
        let sliding = c.ropeInverseFrequencies(base: h.rope.slidingWindowFrequencyBase ?? 10000, scale: 1, perDimensionFactors: factors)
        let d = c.embeddingLength
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension
        var layers: [Layer] = []
        for i in 0 ..< c.layerCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                attentionNorm: try w.vector(p + "attn_norm.weight", d),
                query: try w.matrix(p + "attn_q.weight", columns: d, rows: qWidth),
                key: try w.matrix(p + "attn_k.weight", columns: d, rows: kvWidth),
                value: try w.matrix(p + "attn_v.weight", columns: d, rows: kvWidth),
                queryNorm: try w.vector(p + "attn_q_norm.weight", c.headDimension),
                keyNorm: try w.vector(p + "attn_k_norm.weight", c.headDimension),
                attentionOutput: try w.matrix(p + "attn_output.weight", columns: qWidth, rows: d),
                postAttentionNorm: try w.vector(p + "post_attention_norm.weight", d),
                feedForwardNorm: try w.vector(p + "ffn_norm.weight", d),
                gate: try w.matrix(p + "ffn_gate.weight", columns: d, rows: c.feedForwardLength),
                up: try w.matrix(p + "ffn_up.weight", columns: d, rows: c.feedForwardLength),
                down: try w.matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: d),
                postFeedForwardNorm: try w.vector(p + "post_ffw_norm.weight", d),
                ropeInverseFrequencies: cacheLayout.window(ofLayer: i) == nil ? global : sliding))
            progress(i + 1, c.layerCount + 1)
        }
        self.layers = layers
        outputNorm = try w.vector("output_norm.weight", d)
        (embedding, output) = try w.embeddingAndOutput(width: d, vocabulary: c.vocabularySize)
        weightBytes = w.bytes
        progress(c.layerCount + 1, c.layerCount + 1)
    }

    func makeRunner(_ options: RunnerOptions) throws(ModelError) -> any ModelRunner {
        switch options.device {
        case .cpu: try Gemma3Runner<CPUBackend>(model: self, options: options)
        case .vulkan: try Gemma3Runner<VulkanBackend>(model: self, options: options)
        }
    }
}

/// A gemma3 model's forward pass over a batch, on `Backend`.
final class Gemma3Runner<Backend: ComputeBackend>: BackendRunner {
    let model: Gemma3
    let backend: Backend

    private let a: BlockActivations<Backend>
    /// An attention or feed-forward output on its way through its post-norm into the residual stream.
    private let branch: Backend.Activations

    init(model: Gemma3, options: RunnerOptions) throws(ModelError) {
        backend = try BlockActivations<Backend>.backend(options, model.cacheLayout, model.configuration)
        self.model = model
        a = try BlockActivations(backend, model.configuration)
        branch = try backend.activations(width: model.configuration.embeddingLength)
    }

    func forward(_ batch: ForwardBatch) throws(ModelError) -> [Float] {
        let c = model.configuration
        let (x, normed, queries, keys, values, attention, gate, up) = (a.x, a.normed, a.queries, a.keys, a.values, a.attention, a.gate, a.up)
        let b = backend
        let epsilon = c.rmsEpsilon
        try b.begin(batch, vocabularySize: c.vocabularySize)
        try b.embed(model.embedding, into: x, scale: Float(c.embeddingLength).squareRoot())
        for (l, layer) in model.layers.enumerated() {
            // Attention: x += postnorm(Wo · attend(rope(qnorm(Wq · norm(x))), rope(knorm(Wk · norm(x))), Wv · norm(x))).
            b.rmsNorm(x, weight: layer.attentionNorm, groups: 1, epsilon: epsilon, into: normed)
            try b.matmuls([(layer.query, queries), (layer.key, keys), (layer.value, values)], input: normed)
            b.rmsNorm(queries, weight: layer.queryNorm, groups: c.headCount, epsilon: epsilon, into: queries)
            b.rmsNorm(keys, weight: layer.keyNorm, groups: c.kvHeadCount, epsilon: epsilon, into: keys)
            b.rope(queries, heads: c.headCount, headDimension: c.headDimension, inverseFrequencies: layer.ropeInverseFrequencies, neox: true)
            b.rope(keys, heads: c.kvHeadCount, headDimension: c.headDimension, inverseFrequencies: layer.ropeInverseFrequencies, neox: true)
            b.storeKeysAndValues(layer: l, keys: keys, values: values)
            try b.attend(layer: l, queries: queries, heads: c.headCount, headDimension: c.headDimension, scale: model.attentionScale,
                         into: attention)
            try b.matmul(layer.attentionOutput, input: attention, into: branch, accumulate: false)
            b.rmsNorm(branch, weight: layer.postAttentionNorm, groups: 1, epsilon: epsilon, into: branch)
            b.add(branch, into: x)

            // Feed-forward: x += postnorm(W2 · (gelu(W1 · norm(x)) ⊙ W3 · norm(x))).
            b.rmsNorm(x, weight: layer.feedForwardNorm, groups: 1, epsilon: epsilon, into: normed)
            try b.matmuls([(layer.gate, gate), (layer.up, up)], input: normed)
            b.geglu(gate: gate, up: up)
            try b.matmul(layer.down, input: gate, into: branch, accumulate: false)
            b.rmsNorm(branch, weight: layer.postFeedForwardNorm, groups: 1, epsilon: epsilon, into: branch)
            b.add(branch, into: x)
        }
        return try b.logits(x, norm: model.outputNorm, epsilon: epsilon, output: model.output, bias: nil)
    }
}

import SkiffGGUF
import SkiffHyperparameters

/// `llama`: RMSNorm before attention and before the feed-forward network, RoPE on queries and keys
/// (adjacent pairs), grouped-query attention, a SwiGLU feed-forward network, a tied or separate output head.
/// Checked against llama.cpp with SmolLM2-135M (docs/correctness.md).
///
/// RoPE scaling other than none or linear is refused (`TransformerConfiguration`), and so is a sliding
/// window, which this file does not implement yet.
final class Llama: LanguageModel {
    struct Layer: Sendable {
        let attentionNorm: [Float]
        let query: WeightMatrix
        let key: WeightMatrix
        let value: WeightMatrix
        let attentionOutput: WeightMatrix
        let feedForwardNorm: [Float]
        let gate: WeightMatrix
        let up: WeightMatrix
        let down: WeightMatrix
    }

    let configuration: TransformerConfiguration
    let embedding: TokenEmbedding
    let layers: [Layer]
    let outputNorm: [Float]
    let output: WeightMatrix
    let ropeInverseFrequencies: [Float]
    let weightBytes: Int
    let cacheLayout: CacheLayout

    var contextLength: Int { configuration.contextLength }
    var vocabularySize: Int { configuration.vocabularySize }

    /// Loads and repacks the weights of `file`; `progress` gets (blocks done, blocks + 1).
    init(file: GGUFFile, hyperparameters: ModelHyperparameters, progress: (Int, Int) -> Void) throws(ModelError) {
        let c = try TransformerConfiguration(hyperparameters)
        guard c.slidingWindows.allSatisfy({ $0 == nil }) else {
            throw ModelError(.invalidHyperparameter, "this llama model has sliding-window attention (\(c.architecture).attention.sliding_window), which Skiff does not run yet")
        }
        configuration = c
        cacheLayout = CacheLayout(hyperparameters)
        let w = WeightLoader(file: file)
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension
        var layers: [Layer] = []
        for i in 0 ..< c.layerCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                attentionNorm: try w.vector(p + "attn_norm.weight", c.embeddingLength),
                query: try w.matrix(p + "attn_q.weight", columns: c.embeddingLength, rows: qWidth),
                key: try w.matrix(p + "attn_k.weight", columns: c.embeddingLength, rows: kvWidth),
                value: try w.matrix(p + "attn_v.weight", columns: c.embeddingLength, rows: kvWidth),
                attentionOutput: try w.matrix(p + "attn_output.weight", columns: qWidth, rows: c.embeddingLength),
                feedForwardNorm: try w.vector(p + "ffn_norm.weight", c.embeddingLength),
                gate: try w.matrix(p + "ffn_gate.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                up: try w.matrix(p + "ffn_up.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                down: try w.matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: c.embeddingLength)))
            progress(i + 1, c.layerCount + 1)
        }
        self.layers = layers
        outputNorm = try w.vector("output_norm.weight", c.embeddingLength)
        (embedding, output) = try w.embeddingAndOutput(width: c.embeddingLength, vocabulary: c.vocabularySize)
        ropeInverseFrequencies = c.ropeInverseFrequencies(perDimensionFactors: try w.ropeFactors(pairs: c.ropeDimensionCount / 2))
        weightBytes = w.bytes
        progress(c.layerCount + 1, c.layerCount + 1)
    }

    func makeRunner(_ options: RunnerOptions) throws(ModelError) -> any ModelRunner {
        try LlamaRunner<CPUBackend>(model: self, options: options)
    }
}

/// A llama model's forward pass over a batch, on `Backend`.
final class LlamaRunner<Backend: ComputeBackend>: ModelRunner {
    let model: Llama
    let backend: Backend
    var maxBatchTokens: Int { backend.maxBatchTokens }

    private let x, normed, queries, keys, values, attention, gate, up: Backend.Activations

    init(model: Llama, options: RunnerOptions) throws(ModelError) {
        let c = model.configuration
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension
        backend = try Backend(options: options, layout: model.cacheLayout,
                              widestActivation: max(c.embeddingLength, c.feedForwardLength, qWidth))
        self.model = model
        x = backend.activations(width: c.embeddingLength)
        normed = backend.activations(width: c.embeddingLength)
        queries = backend.activations(width: qWidth)
        keys = backend.activations(width: kvWidth)
        values = backend.activations(width: kvWidth)
        attention = backend.activations(width: qWidth)
        gate = backend.activations(width: c.feedForwardLength)
        up = backend.activations(width: c.feedForwardLength)
    }

    func forward(_ batch: ForwardBatch) throws(ModelError) -> [Float] {
        let c = model.configuration
        let b = backend
        try b.begin(batch, vocabularySize: c.vocabularySize)
        let frequencies = model.ropeInverseFrequencies
        b.embed(model.embedding, into: x, scale: 1)
        for (l, layer) in model.layers.enumerated() {
            // Attention: h = x + Wo · attend(rope(Wq · norm(x)), rope(Wk · norm(x)), Wv · norm(x)).
            b.rmsNorm(x, weight: layer.attentionNorm, groups: 1, epsilon: c.rmsEpsilon, into: normed)
            b.matmuls([(layer.query, queries), (layer.key, keys), (layer.value, values)], input: normed)
            b.rope(queries, heads: c.headCount, headDimension: c.headDimension, inverseFrequencies: frequencies, neox: false)
            b.rope(keys, heads: c.kvHeadCount, headDimension: c.headDimension, inverseFrequencies: frequencies, neox: false)
            b.storeKeysAndValues(layer: l, keys: keys, values: values)
            try b.attend(layer: l, queries: queries, heads: c.headCount, headDimension: c.headDimension,
                         scale: 1 / Float(c.headDimension).squareRoot(), window: nil, into: attention)
            b.matmul(layer.attentionOutput, input: attention, into: x, accumulate: true)

            // Feed-forward: x = h + W2 · (silu(W1 · norm(h)) ⊙ W3 · norm(h)).
            b.rmsNorm(x, weight: layer.feedForwardNorm, groups: 1, epsilon: c.rmsEpsilon, into: normed)
            b.matmuls([(layer.gate, gate), (layer.up, up)], input: normed)
            b.swiglu(gate: gate, up: up)
            b.matmul(layer.down, input: gate, into: x, accumulate: true)
        }
        return b.logits(x, norm: model.outputNorm, epsilon: c.rmsEpsilon, output: model.output)
    }
}

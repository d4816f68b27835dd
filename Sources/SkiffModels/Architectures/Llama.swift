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

    func makeRunner(cache: KVCacheStorage, pool: ComputePool, maxBatchTokens: Int) throws(ModelError) -> any ModelRunner {
        try LlamaRunner(model: self, cache: cache, pool: pool, maxBatchTokens: maxBatchTokens)
    }
}

/// A llama model's forward pass over a batch.
final class LlamaRunner: ModelRunner {
    let model: Llama
    let compute: CPUCompute
    var maxBatchTokens: Int { compute.maxBatchTokens }

    private let x, normed, queries, keys, values, attention, gate, up: Buffer<Float>

    init(model: Llama, cache: KVCacheStorage, pool: ComputePool, maxBatchTokens: Int) throws(ModelError) {
        let c = model.configuration
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension
        compute = try CPUCompute(pool: pool, cache: cache, maxBatchTokens: maxBatchTokens,
                                 widestActivation: max(c.embeddingLength, c.feedForwardLength, qWidth))
        self.model = model
        x = compute.activations(width: c.embeddingLength)
        normed = compute.activations(width: c.embeddingLength)
        queries = compute.activations(width: qWidth)
        keys = compute.activations(width: kvWidth)
        values = compute.activations(width: kvWidth)
        attention = compute.activations(width: qWidth)
        gate = compute.activations(width: c.feedForwardLength)
        up = compute.activations(width: c.feedForwardLength)
    }

    func forward(_ batch: ForwardBatch) throws(ModelError) -> [Float] {
        let c = model.configuration
        try compute.validate(batch, vocabularySize: c.vocabularySize)
        let n = batch.count
        let d = c.embeddingLength
        let ffn = c.feedForwardLength
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension
        let scale = 1 / Float(c.headDimension).squareRoot()

        for i in 0 ..< n { model.embedding.embed(batch.tokens[i], into: x.pointer + i * d) }

        try compute.withAttentionQueries(batch) { (attentionQueries) throws(ModelError) in
            for (l, layer) in model.layers.enumerated() {
                // Attention: h = x + Wo · attend(rope(Wq · norm(x)), rope(Wk · norm(x)), Wv · norm(x)).
                compute.rmsNorm(x.pointer, stride: d, weight: layer.attentionNorm, into: normed.pointer, outStride: d,
                                tokens: n, width: d, epsilon: c.rmsEpsilon)
                compute.matmuls([(layer.query, queries.pointer, qWidth), (layer.key, keys.pointer, kvWidth),
                                 (layer.value, values.pointer, kvWidth)], input: normed.pointer, stride: d, tokens: n)
                for i in 0 ..< n {
                    compute.rope(queries.pointer + i * qWidth, heads: c.headCount, headDimension: c.headDimension,
                                 rotaryDimensions: c.ropeDimensionCount, position: batch.positions[i],
                                 inverseFrequencies: model.ropeInverseFrequencies, neox: false)
                    compute.rope(keys.pointer + i * kvWidth, heads: c.kvHeadCount, headDimension: c.headDimension,
                                 rotaryDimensions: c.ropeDimensionCount, position: batch.positions[i],
                                 inverseFrequencies: model.ropeInverseFrequencies, neox: false)
                }
                compute.storeKeysAndValues(layer: l, batch, keys: keys.pointer, values: values.pointer, width: kvWidth)
                try compute.attend(layer: l, attentionQueries, queries.pointer, heads: c.headCount, headDimension: c.headDimension,
                                   scale: scale, into: attention.pointer)
                compute.matmul(layer.attentionOutput, input: attention.pointer, stride: qWidth, tokens: n,
                               into: x.pointer, outStride: d, accumulate: true)

                // Feed-forward: x = h + W2 · (silu(W1 · norm(h)) ⊙ W3 · norm(h)).
                compute.rmsNorm(x.pointer, stride: d, weight: layer.feedForwardNorm, into: normed.pointer, outStride: d,
                                tokens: n, width: d, epsilon: c.rmsEpsilon)
                compute.matmuls([(layer.gate, gate.pointer, ffn), (layer.up, up.pointer, ffn)], input: normed.pointer, stride: d, tokens: n)
                compute.swiglu(gate: gate.pointer, up: up.pointer, into: gate.pointer, count: n * ffn)
                compute.matmul(layer.down, input: gate.pointer, stride: ffn, tokens: n, into: x.pointer, outStride: d, accumulate: true)
            }
        }
        return compute.logits(batch, x: x.pointer, width: d, norm: model.outputNorm, epsilon: c.rmsEpsilon, output: model.output,
                              normed: normed.pointer)
    }
}

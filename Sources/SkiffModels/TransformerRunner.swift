import CSkiffKernels

/// Runs forward passes of a `LlamaModel` over batches of tokens, writing keys and values into a paged
/// KV cache and returning next-token logits.
///
/// A runner owns its scratch memory and thread pool and is driven by one thread at a time (it is not
/// `Sendable`); the engine gives it a thread of its own.
public final class TransformerRunner {
    /// The model being run.
    public let model: LlamaModel
    /// The KV cache written by forward passes.
    public let cache: KVCacheStorage
    /// The most tokens one forward pass accepts.
    public let maxBatchTokens: Int
    let pool: ComputePool

    private let x: Buffer<Float>
    private let normed: Buffer<Float>
    private let queries: Buffer<Float>
    private let keys: Buffer<Float>
    private let values: Buffer<Float>
    private let attention: Buffer<Float>
    private let gate: Buffer<Float>
    private let up: Buffer<Float>
    private let quantValues: Buffer<Int8>
    private let quantScales: Buffer<Float>
    private let quantSums: Buffer<Float>
    private let quantHalfSums: Buffer<Int16>

    /// Creates a runner with scratch memory for `maxBatchTokens` tokens per pass.
    public init(model: LlamaModel, cache: KVCacheStorage, pool: ComputePool, maxBatchTokens: Int) throws(ModelError) {
        guard maxBatchTokens > 0 else {
            throw ModelError(.invalidHyperparameter, "the batch size must be at least one token")
        }
        self.model = model
        self.cache = cache
        self.pool = pool
        self.maxBatchTokens = maxBatchTokens
        let c = model.configuration
        let t = maxBatchTokens
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension
        let widest = max(c.embeddingLength, c.feedForwardLength, qWidth)
        x = Buffer(t * c.embeddingLength)
        normed = Buffer(t * c.embeddingLength)
        queries = Buffer(t * qWidth)
        keys = Buffer(t * kvWidth)
        values = Buffer(t * kvWidth)
        attention = Buffer(t * qWidth)
        gate = Buffer(t * c.feedForwardLength)
        up = Buffer(t * c.feedForwardLength)
        quantValues = Buffer(t * widest)
        quantScales = Buffer(t * widest / 32)
        quantSums = Buffer(t * widest / 32)
        quantHalfSums = Buffer(t * widest / 16)
    }

    /// Runs `batch` through the model and returns the logits of the tokens in `batch.logitIndices`,
    /// row after row (`logitIndices.count × vocabularySize` values).
    public func forward(_ batch: ForwardBatch) throws(ModelError) -> [Float] {
        let c = model.configuration
        let n = batch.count
        try validate(batch)
        let poolHandle = pool.pool
        let d = c.embeddingLength
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension

        // Embeddings.
        for i in 0 ..< n {
            model.embed(batch.tokens[i], into: x.pointer + i * d)
        }

        // Block tables flattened so the kernels can hold pointers into them.
        var tableOffsets: [Int] = []
        var flatTables: [Int32] = []
        for table in batch.blockTables {
            tableOffsets.append(flatTables.count)
            flatTables.append(contentsOf: table)
        }
        if flatTables.isEmpty { flatTables.append(0) }

        try flatTables.withUnsafeBufferPointer { (tables) throws(ModelError) in
            let attentionQueries = (0 ..< n).map { i in
                skiff_attention_query(block_table: tables.baseAddress! + tableOffsets[Int(batch.sequences[i])],
                                      context_length: batch.positions[i] + 1)
            }
            for (l, layer) in model.layers.enumerated() {
                skiff_rms_norm(x.pointer, Int64(d), layer.attentionNorm, normed.pointer, Int64(d), Int64(n), Int64(d), c.rmsEpsilon)
                var q8 = quantize(normed.pointer, stride: d, tokens: n, columns: d)
                matmuls([(layer.query, queries.pointer, qWidth), (layer.key, keys.pointer, kvWidth),
                         (layer.value, values.pointer, kvWidth)], &q8, input: normed.pointer, n)

                var kvLayer = cache.layers[l]
                for i in 0 ..< n {
                    let position = Int64(batch.positions[i])
                    skiff_rope(queries.pointer + i * qWidth, Int64(c.headCount), Int64(c.headDimension),
                               Int64(c.ropeDimensionCount), position, model.ropeInverseFrequencies, 1, c.ropeNeoX ? 1 : 0)
                    skiff_rope(keys.pointer + i * kvWidth, Int64(c.kvHeadCount), Int64(c.headDimension),
                               Int64(c.ropeDimensionCount), position, model.ropeInverseFrequencies, 1, c.ropeNeoX ? 1 : 0)
                    let table = batch.blockTables[Int(batch.sequences[i])]
                    let p = Int(batch.positions[i])
                    skiff_kv_store(&kvLayer, table[p / cache.blockSize], Int32(p % cache.blockSize),
                                   keys.pointer + i * kvWidth, values.pointer + i * kvWidth)
                }
                let status = attentionQueries.withUnsafeBufferPointer {
                    skiff_attention(poolHandle, &kvLayer, $0.baseAddress, Int64(n), queries.pointer, Int64(c.headCount),
                                    1 / Float(c.headDimension).squareRoot(), attention.pointer)
                }
                guard status == 0 else {
                    throw ModelError(.unsupportedTensor, "attention kernels need a head dimension that is a multiple of 16 (at most 512); this model has \(c.headDimension)")
                }
                q8 = quantize(attention.pointer, stride: qWidth, tokens: n, columns: qWidth)
                matmul(layer.attentionOutput, &q8, input: attention.pointer, n, out: x.pointer, stride: d, accumulate: true)

                skiff_rms_norm(x.pointer, Int64(d), layer.feedForwardNorm, normed.pointer, Int64(d), Int64(n), Int64(d), c.rmsEpsilon)
                q8 = quantize(normed.pointer, stride: d, tokens: n, columns: d)
                matmuls([(layer.gate, gate.pointer, c.feedForwardLength), (layer.up, up.pointer, c.feedForwardLength)],
                        &q8, input: normed.pointer, n)
                skiff_swiglu(gate.pointer, up.pointer, gate.pointer, Int64(n * c.feedForwardLength))
                q8 = quantize(gate.pointer, stride: c.feedForwardLength, tokens: n, columns: c.feedForwardLength)
                matmul(layer.down, &q8, input: gate.pointer, n, out: x.pointer, stride: d, accumulate: true)
            }
        }

        // Output head for the requested rows only.
        let rows = batch.logitIndices.count
        guard rows > 0 else { return [] }
        var logits = [Float](repeating: 0, count: rows * c.vocabularySize)
        var start = 0
        while start < rows {
            let count = min(maxBatchTokens, rows - start)
            for j in 0 ..< count {
                let i = batch.logitIndices[start + j]
                skiff_rms_norm(x.pointer + i * d, Int64(d), model.outputNorm, normed.pointer + j * d, Int64(d), 1, Int64(d), c.rmsEpsilon)
            }
            var q8 = quantize(normed.pointer, stride: d, tokens: count, columns: d)
            logits.withUnsafeMutableBufferPointer { out in
                matmul(model.output, &q8, input: normed.pointer, count, out: out.baseAddress! + start * c.vocabularySize, stride: c.vocabularySize)
            }
            start += count
        }
        return logits
    }

    private func validate(_ batch: ForwardBatch) throws(ModelError) {
        let c = model.configuration
        guard batch.count > 0, batch.count <= maxBatchTokens else {
            throw ModelError(.invalidBatch, "a forward pass takes 1 to \(maxBatchTokens) tokens, not \(batch.count)")
        }
        guard batch.positions.count == batch.count, batch.sequences.count == batch.count else {
            throw ModelError(.invalidBatch, "every token needs a position and a sequence")
        }
        for i in 0 ..< batch.count {
            let token = batch.tokens[i]
            guard token >= 0, Int(token) < c.vocabularySize else {
                throw ModelError(.invalidBatch, "token id \(token) is outside the vocabulary of \(c.vocabularySize)")
            }
            let s = Int(batch.sequences[i])
            guard s >= 0, s < batch.blockTables.count else {
                throw ModelError(.invalidBatch, "token \(i) names sequence \(s), which the batch does not have")
            }
            let p = Int(batch.positions[i])
            let table = batch.blockTables[s]
            guard p >= 0, p < table.count * cache.blockSize else {
                throw ModelError(.invalidBatch, "position \(p) is past the \(table.count) cache blocks of its sequence")
            }
            for block in table[0 ... p / cache.blockSize] where block < 0 || Int(block) >= cache.blockCount {
                throw ModelError(.invalidBatch, "cache block \(block) does not exist (the cache has \(cache.blockCount))")
            }
        }
        for i in batch.logitIndices where i < 0 || i >= batch.count {
            throw ModelError(.invalidBatch, "logits were asked for token \(i) of a \(batch.count)-token batch")
        }
    }

    private func quantize(_ input: UnsafePointer<Float>, stride: Int, tokens: Int, columns: Int) -> skiff_q8_activations {
        var q8 = skiff_q8_activations(values: quantValues.pointer, scales: quantScales.pointer, sums: quantSums.pointer,
                                      half_sums: quantHalfSums.pointer, tokens: Int64(tokens), columns: Int64(columns))
        skiff_quantize_activations(pool.pool, input, Int64(stride), &q8)
        return q8
    }

    /// Several products of one input in one parallel run: each (matrix, output, output stride).
    private func matmuls(_ products: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], _ q8: inout skiff_q8_activations,
                         input: UnsafePointer<Float>, _ tokens: Int) {
        withExtendedLifetime(products) {
            let outputs = products.map { w, out, stride in
                skiff_matmul_output(w: w.matrix, y: out, y_stride: Int64(stride), accumulate: 0)
            }
            skiff_matmul_group(pool.pool, outputs, Int32(outputs.count), &q8, input, Int64(products[0].0.columns), Int64(tokens))
        }
    }

    /// out = input × wᵀ; `q8` is `input` quantized (used by integer weights, float weights read `input`).
    private func matmul(_ w: WeightMatrix, _ q8: inout skiff_q8_activations, input: UnsafePointer<Float>, _ tokens: Int,
                        out: UnsafeMutablePointer<Float>, stride: Int, accumulate: Bool = false) {
        skiff_matmul(pool.pool, w.matrix, &q8, input, Int64(w.columns), Int64(tokens), out, Int64(stride),
                     accumulate ? 1 : 0)
    }
}

/// A fixed-size, 64-byte aligned scratch array.
final class Buffer<Element> {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int

    init(_ count: Int) {
        self.count = max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.count * MemoryLayout<Element>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Element.self, capacity: self.count)
    }

    deinit { pointer.deallocate() }
}

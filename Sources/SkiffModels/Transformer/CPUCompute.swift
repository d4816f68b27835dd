import CSkiffKernels

/// The operations a transformer's forward pass is written in, on the CPU kernels: scratch activations for a
/// batch, norms, quantized matrix products, RoPE, the paged KV cache and attention, the output head.
///
/// An architecture's runner holds one and reads like its paper on top of it; it owns the scratch memory and
/// is driven by one thread at a time (it is not `Sendable`).
final class CPUCompute {
    let pool: ComputePool
    let cache: KVCacheStorage
    let maxBatchTokens: Int
    private let quantValues: Buffer<Int8>
    private let quantScales: Buffer<Float>
    private let quantSums: Buffer<Float>
    private let quantHalfSums: Buffer<Int16>

    /// Scratch for batches of up to `maxBatchTokens` tokens whose widest activation is `widestActivation`.
    init(pool: ComputePool, cache: KVCacheStorage, maxBatchTokens: Int, widestActivation: Int) throws(ModelError) {
        guard maxBatchTokens > 0 else {
            throw ModelError(.invalidHyperparameter, "the batch size must be at least one token")
        }
        self.pool = pool
        self.cache = cache
        self.maxBatchTokens = maxBatchTokens
        let widest = maxBatchTokens * widestActivation
        quantValues = Buffer(widest)
        quantScales = Buffer(widest / 32)
        quantSums = Buffer(widest / 32)
        quantHalfSums = Buffer(widest / 16)
    }

    /// A scratch array of `width` floats per token of the largest batch.
    func activations(width: Int) -> Buffer<Float> { Buffer(maxBatchTokens * width) }

    /// Checks `batch` against the runner's limits, the vocabulary and the cache, so no kernel reads out of bounds.
    func validate(_ batch: ForwardBatch, vocabularySize: Int) throws(ModelError) {
        guard batch.count > 0, batch.count <= maxBatchTokens else {
            throw ModelError(.invalidBatch, "a forward pass takes 1 to \(maxBatchTokens) tokens, not \(batch.count)")
        }
        guard batch.positions.count == batch.count, batch.sequences.count == batch.count else {
            throw ModelError(.invalidBatch, "every token needs a position and a sequence")
        }
        for i in 0 ..< batch.count {
            let token = batch.tokens[i]
            guard token >= 0, Int(token) < vocabularySize else {
                throw ModelError(.invalidBatch, "token id \(token) is outside the vocabulary of \(vocabularySize)")
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

    /// Runs `body` with the batch's block tables flattened where the kernels can hold pointers into them,
    /// and each token's attention query (its sequence's blocks and how many positions it sees).
    func withAttentionQueries<R>(_ batch: ForwardBatch,
                                 _ body: ([skiff_attention_query]) throws(ModelError) -> R) throws(ModelError) -> R {
        var tableOffsets: [Int] = []
        var flatTables: [Int32] = []
        for table in batch.blockTables {
            tableOffsets.append(flatTables.count)
            flatTables.append(contentsOf: table)
        }
        if flatTables.isEmpty { flatTables.append(0) }
        return try flatTables.withUnsafeBufferPointer { (tables) throws(ModelError) -> R in
            let queries = (0 ..< batch.count).map { i in
                skiff_attention_query(block_table: tables.baseAddress! + tableOffsets[Int(batch.sequences[i])],
                                      context_length: batch.positions[i] + 1)
            }
            return try body(queries)
        }
    }

    /// RMSNorm of `tokens` rows of `width` values, each scaled by `weight`: out = x / rms(x) × weight.
    func rmsNorm(_ x: UnsafePointer<Float>, stride: Int, weight: [Float], into out: UnsafeMutablePointer<Float>, outStride: Int,
                 tokens: Int, width: Int, epsilon: Float) {
        skiff_rms_norm(x, Int64(stride), weight, out, Int64(outStride), Int64(tokens), Int64(width), epsilon)
    }

    /// Quantizes `tokens` rows of `columns` activations to int8 for the integer kernels.
    func quantize(_ input: UnsafePointer<Float>, stride: Int, tokens: Int, columns: Int) -> skiff_q8_activations {
        var q8 = skiff_q8_activations(values: quantValues.pointer, scales: quantScales.pointer, sums: quantSums.pointer,
                                      half_sums: quantHalfSums.pointer, tokens: Int64(tokens), columns: Int64(columns))
        skiff_quantize_activations(pool.pool, input, Int64(stride), &q8)
        return q8
    }

    /// Several products of one input in one parallel run: each (matrix, output, output stride).
    func matmuls(_ products: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], input: UnsafePointer<Float>, stride: Int, tokens: Int) {
        var q8 = quantize(input, stride: stride, tokens: tokens, columns: products[0].0.columns)
        withExtendedLifetime(products) {
            let outputs = products.map { w, out, stride in
                skiff_matmul_output(w: w.matrix, y: out, y_stride: Int64(stride), accumulate: 0)
            }
            skiff_matmul_group(pool.pool, outputs, Int32(outputs.count), &q8, input, Int64(products[0].0.columns), Int64(tokens))
        }
    }

    /// out (+)= input × wᵀ for `tokens` rows; `accumulate` adds to `out` (a residual connection).
    func matmul(_ w: WeightMatrix, input: UnsafePointer<Float>, stride: Int, tokens: Int,
                into out: UnsafeMutablePointer<Float>, outStride: Int, accumulate: Bool = false) {
        var q8 = quantize(input, stride: stride, tokens: tokens, columns: w.columns)
        skiff_matmul(pool.pool, w.matrix, &q8, input, Int64(w.columns), Int64(tokens), out, Int64(outStride), accumulate ? 1 : 0)
    }

    /// Rotates `heads` heads of `headDimension` at `position` by RoPE (NeoX pairing (i, i + n/2), else (2i, 2i+1)).
    func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int, rotaryDimensions: Int, position: Int32,
              inverseFrequencies: [Float], neox: Bool) {
        skiff_rope(x, Int64(heads), Int64(headDimension), Int64(rotaryDimensions), Int64(position), inverseFrequencies, 1, neox ? 1 : 0)
    }

    /// out = silu(gate) ⊙ up over `count` values (`out` may be `gate`).
    func swiglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        skiff_swiglu(gate, up, out, Int64(count))
    }

    /// Writes the keys and values of every token of `batch` into layer `layer` of the cache, at its position.
    func storeKeysAndValues(layer: Int, _ batch: ForwardBatch, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, width: Int) {
        var kvLayer = cache.layers[layer]
        for i in 0 ..< batch.count {
            let table = batch.blockTables[Int(batch.sequences[i])]
            let p = Int(batch.positions[i])
            skiff_kv_store(&kvLayer, table[p / cache.blockSize], Int32(p % cache.blockSize), keys + i * width, values + i * width)
        }
    }

    /// Causal attention of every token's `heads` query heads over its sequence's cached keys and values in
    /// layer `layer`, scaled by `scale`, written to `out` (heads × head size per token).
    func attend(layer: Int, _ queries: [skiff_attention_query], _ q: UnsafePointer<Float>, heads: Int, headDimension: Int, scale: Float,
                into out: UnsafeMutablePointer<Float>) throws(ModelError) {
        var kvLayer = cache.layers[layer]
        let status = queries.withUnsafeBufferPointer {
            skiff_attention(pool.pool, &kvLayer, $0.baseAddress, Int64($0.count), q, Int64(heads), scale, out)
        }
        guard status == 0 else {
            throw ModelError(.unsupportedTensor, "attention kernels need a head dimension that is a multiple of 16 (at most 512); this model has \(headDimension)")
        }
    }

    /// The logits of the rows `batch.logitIndices` of the residual stream `x`: final norm, then the output
    /// head, `maxBatchTokens` rows at a time through `normed`.
    func logits(_ batch: ForwardBatch, x: UnsafePointer<Float>, width d: Int, norm: [Float], epsilon: Float, output: WeightMatrix,
                normed: UnsafeMutablePointer<Float>) -> [Float] {
        let rows = batch.logitIndices.count
        guard rows > 0 else { return [] }
        let vocabulary = output.rows
        var logits = [Float](repeating: 0, count: rows * vocabulary)
        var start = 0
        while start < rows {
            let count = min(maxBatchTokens, rows - start)
            for j in 0 ..< count {
                rmsNorm(x + batch.logitIndices[start + j] * d, stride: d, weight: norm, into: normed + j * d, outStride: d,
                        tokens: 1, width: d, epsilon: epsilon)
            }
            logits.withUnsafeMutableBufferPointer { out in
                matmul(output, input: normed, stride: d, tokens: count, into: out.baseAddress! + start * vocabulary, outStride: vocabulary)
            }
            start += count
        }
        return logits
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

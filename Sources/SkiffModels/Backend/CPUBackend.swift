import CSkiffKernels
import SkiffHyperparameters

/// The CPU backend: the C kernels (`CSkiffKernels`) on a pool of threads, activations in 64-byte aligned host
/// memory, the KV cache in `KVCacheStorage`, recurrent state in `RecurrentStateStorage`.
final class CPUBackend: ComputeBackend {
    /// A batch's rows of `width` floats.
    final class Activations {
        let buffer: Buffer<Float>
        let width: Int

        init(width: Int, rows: Int) {
            self.width = width
            buffer = Buffer(rows * width)
        }

        var pointer: UnsafeMutablePointer<Float> { buffer.pointer }
    }

    let pool: ComputePool
    let cache: KVCacheStorage
    let state: RecurrentStateStorage
    let maxBatchTokens: Int
    private let quantValues: Buffer<Int8>
    private let quantScales: Buffer<Float>
    private let quantSums: Buffer<Float>
    private let quantHalfSums: Buffer<Int16>
    /// The current batch and its attention queries per block group, which point into `tables`.
    private var batch = ForwardBatch()
    private var tables = Buffer<Int32>(0)
    private var attentionQueries: [[skiff_attention_query]] = []
    /// Each sequence of the current batch with recurrent state: its slot and its rows.
    private var stateSequences: [(slot: Int, first: Int, count: Int)] = []
    /// The output head's normed rows, made on the first batch that wants logits and kept for the next.
    private var headInput: Activations?

    init(options: RunnerOptions, layout: CacheLayout, widestActivation: Int) throws(ModelError) {
        guard options.maxBatchTokens > 0 else {
            throw ModelError(.invalidHyperparameter, "the batch size must be at least one token")
        }
        pool = try ComputePool(threadCount: options.threads)
        cache = try KVCacheStorage(layout: layout, blockSize: options.blockSize, blockCount: options.cacheBlocks,
                                   resident: options.residentCache)
        state = try RecurrentStateStorage(layout: layout, slotCount: options.stateSlots, resident: options.residentCache)
        if layout.hasRecurrentLayers, state.slotCount == 0 {
            throw ModelError(.invalidHyperparameter, "this model has recurrent layers, so its runner needs at least one state slot")
        }
        maxBatchTokens = options.maxBatchTokens
        let widest = maxBatchTokens * widestActivation
        quantValues = Buffer(widest)
        quantScales = Buffer(widest / 32)
        quantSums = Buffer(widest / 32)
        quantHalfSums = Buffer(widest / 16)
    }

    func activations(width: Int) -> Activations { Activations(width: width, rows: maxBatchTokens) }

    func begin(_ batch: ForwardBatch, vocabularySize: Int) throws(ModelError) {
        try batch.check(maxTokens: maxBatchTokens, vocabularySize: vocabularySize, groups: cache.groups, blockSize: cache.blockSize,
                        blockCount: cache.blockCount)
        stateSequences = state.isEmpty ? [] : try recurrentSequences(of: batch)
        self.batch = batch
        // Block tables flattened into memory of our own, where the kernels can hold pointers until the next batch.
        let total = batch.blockTables.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }
        if tables.count < total { tables = Buffer(total) }
        var offsets: [[Int]] = []
        var next = 0
        for groupTables in batch.blockTables {
            offsets.append(groupTables.map { table in
                defer { next += table.count }
                for (j, block) in table.enumerated() { tables.pointer[next + j] = block }
                return next
            })
        }
        attentionQueries = cache.groups.enumerated().map { g, group in
            (0 ..< batch.count).map { i in
                let position = Int(batch.positions[i])
                let first = group.window.map { max(0, position + 1 - $0) } ?? 0
                return skiff_attention_query(block_table: tables.pointer + offsets[Int(batch.sequences[i])][g],
                                             context_length: Int32(position + 1), first_position: Int32(first))
            }
        }
    }

    /// Each sequence's slot and rows, checked to be consecutive tokens continuing the slot's state, which is
    /// advanced to the batch's end (zeroed first for a sequence starting at 0).
    private func recurrentSequences(of batch: ForwardBatch) throws(ModelError) -> [(slot: Int, first: Int, count: Int)] {
        guard batch.stateSlots.count == batch.blockTables.count else {
            throw ModelError(.invalidBatch, "every sequence of a model with recurrent layers needs a state slot")
        }
        var runs: [(sequence: Int, first: Int, count: Int)] = []
        for i in 0 ..< batch.count {
            let s = Int(batch.sequences[i])
            if let last = runs.last, last.sequence == s {
                guard batch.positions[i] == batch.positions[i - 1] + 1 else {
                    throw ModelError(.invalidBatch, "token \(i) does not follow the previous token of its sequence; a recurrent layer needs them in order")
                }
                runs[runs.count - 1].count += 1
            } else {
                guard !runs.contains(where: { $0.sequence == s }) else {
                    throw ModelError(.invalidBatch, "sequence \(s)'s tokens are not together in the batch; a recurrent layer needs them consecutive")
                }
                runs.append((s, i, 1))
            }
        }
        var slots = Set<Int>()
        var sequences: [(slot: Int, first: Int, count: Int)] = []
        for run in runs {
            let slot = Int(batch.stateSlots[run.sequence])
            guard slots.insert(slot).inserted else {
                throw ModelError(.invalidBatch, "two sequences of the batch share state slot \(slot)")
            }
            try state.advance(slot: slot, from: Int(batch.positions[run.first]), count: run.count)
            sequences.append((slot, run.first, run.count))
        }
        return sequences
    }

    /// The current batch's sequences as the state-space kernels take them, with their state in layout layer `layer`.
    private func ssmSequences(layer: Int) -> [skiff_ssm_sequence] {
        stateSequences.map { s in
            let (convolution, scan) = state.state(slot: s.slot, layer: layer)
            return skiff_ssm_sequence(first: Int64(s.first), count: Int64(s.count), conv_state: convolution, ssm_state: scan)
        }
    }

    func embed(_ embedding: TokenEmbedding, into x: Activations, scale: Float) {
        for i in 0 ..< batch.count {
            let row = x.pointer + i * x.width
            embedding.embed(batch.tokens[i], into: row)
            if scale != 1 { skiff_scale(row, scale, Int64(x.width)) }
        }
    }

    func rmsNorm(_ x: Activations, weight: [Float], groups: Int, epsilon: Float, into out: Activations) {
        let width = weight.count
        skiff_rms_norm(x.pointer, Int64(width), weight, out.pointer, Int64(width), Int64(batch.count * groups), Int64(width), epsilon)
    }

    /// Quantizes the batch's rows of `input` to int8 for the integer kernels.
    private func quantize(_ input: Activations, rows: Int) -> skiff_q8_activations {
        var q8 = skiff_q8_activations(values: quantValues.pointer, scales: quantScales.pointer, sums: quantSums.pointer,
                                      half_sums: quantHalfSums.pointer, tokens: Int64(rows), columns: Int64(input.width))
        skiff_quantize_activations(pool.pool, input.pointer, Int64(input.width), &q8)
        return q8
    }

    func matmuls(_ products: [(WeightMatrix, Activations)], input: Activations) {
        var q8 = quantize(input, rows: batch.count)
        withExtendedLifetime(products) {
            let outputs = products.map { w, out in
                skiff_matmul_output(w: w.matrix, y: out.pointer, y_stride: Int64(out.width), accumulate: 0)
            }
            skiff_matmul_group(pool.pool, outputs, Int32(outputs.count), &q8, input.pointer, Int64(input.width), Int64(batch.count))
        }
    }

    func matmul(_ w: WeightMatrix, input: Activations, into out: Activations, accumulate: Bool) {
        product(w, input: input, rows: batch.count, into: out.pointer, outStride: out.width, accumulate: accumulate)
    }

    private func product(_ w: WeightMatrix, input: Activations, rows: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
                         accumulate: Bool) {
        var q8 = quantize(input, rows: rows)
        skiff_matmul(pool.pool, w.matrix, &q8, input.pointer, Int64(input.width), Int64(rows), out, Int64(outStride), accumulate ? 1 : 0)
    }

    func addBias(_ bias: [Float], to x: Activations) {
        for i in 0 ..< batch.count { skiff_add(x.pointer + i * x.width, bias, Int64(x.width)) }
    }

    func rope(_ x: Activations, heads: Int, headDimension: Int, inverseFrequencies: [Float], neox: Bool) {
        for i in 0 ..< batch.count {
            skiff_rope(x.pointer + i * x.width, Int64(heads), Int64(headDimension), Int64(2 * inverseFrequencies.count),
                       Int64(batch.positions[i]), inverseFrequencies, 1, neox ? 1 : 0)
        }
    }

    func storeKeysAndValues(layer: Int, keys: Activations, values: Activations) {
        guard let (group, kv) = cache.layers[layer] else { preconditionFailure("layer \(layer) has no KV cache") }
        var kvLayer = kv
        for i in 0 ..< batch.count {
            let table = batch.blockTables[Int(batch.sequences[i])][group]
            let p = Int(batch.positions[i])
            skiff_kv_store(&kvLayer, table[p / cache.blockSize], Int32(p % cache.blockSize),
                           keys.pointer + i * keys.width, values.pointer + i * values.width)
        }
    }

    func attend(layer: Int, queries: Activations, heads: Int, headDimension: Int, scale: Float,
                into out: Activations) throws(ModelError) {
        guard let (group, kv) = cache.layers[layer] else { preconditionFailure("layer \(layer) has no KV cache") }
        var kvLayer = kv
        let status = attentionQueries[group].withUnsafeBufferPointer {
            skiff_attention(pool.pool, &kvLayer, $0.baseAddress, Int64($0.count), queries.pointer, Int64(heads), scale, out.pointer)
        }
        guard status == 0 else {
            throw ModelError(.unsupportedTensor, "attention kernels need a head dimension that is a multiple of 16 (at most 512); this model has \(headDimension)")
        }
    }

    func convolve(layer: Int, _ x: Activations, column: Int, channels: Int, weight: [Float], bias: [Float]?, silu: Bool) throws(ModelError) {
        let sequences = ssmSequences(layer: layer)
        let kernel = weight.count / max(channels, 1)
        let status = skiff_ssm_conv(pool.pool, sequences, Int64(sequences.count), x.pointer + column, Int64(x.width), Int64(channels),
                                    weight, bias, Int64(kernel), silu ? 1 : 0)
        guard status == 0 else {
            throw ModelError(.unsupportedTensor, "the state-space convolution takes 1 to \(SKIFF_SSM_MAX_CONV_KERNEL) taps; this model has \(kernel)")
        }
    }

    func copyState(from source: Int, to destination: Int) throws(ModelError) {
        try state.copy(from: source, to: destination)
    }

    func scan(layer: Int, _ input: Activations, _ scan: SelectiveScan, into y: Activations) throws(ModelError) {
        let sequences = ssmSequences(layer: layer)
        let row = input.pointer
        let status = skiff_ssm_scan(pool.pool, sequences, Int64(sequences.count), row + scan.xColumn, row + scan.bColumn, row + scan.cColumn,
                                    row + scan.dtColumn, Int64(input.width), scan.a, scan.d, scan.dtBias, scan.inputScaledByDt ? 1 : 0,
                                    Int64(scan.heads),
                                    Int64(scan.headDimension), Int64(scan.groups), Int64(scan.stateSize), y.pointer, Int64(y.width))
        guard status == 0 else {
            throw ModelError(.unsupportedTensor, "the SSM heads (\(scan.heads)) are not a multiple of its groups (\(scan.groups))")
        }
    }

    func gatedGroupNorm(_ y: Activations, gate: Activations, column: Int, weight: [Float], groups: Int, epsilon: Float) {
        skiff_gated_group_rms_norm(pool.pool, y.pointer, Int64(y.width), gate.pointer + column, Int64(gate.width), weight, Int64(batch.count),
                                   Int64(weight.count), Int64(groups), epsilon)
    }

    func gate(_ y: Activations, by gate: Activations, column: Int, bias: [Float]?) {
        skiff_ssm_gate(pool.pool, y.pointer, Int64(y.width), gate.pointer + column, Int64(gate.width), bias, Int64(batch.count), Int64(y.width))
    }

    func swiglu(gate: Activations, up: Activations) {
        skiff_gated(pool.pool, SKIFF_GATE_SILU, gate.pointer, up.pointer, gate.pointer, Int64(batch.count * gate.width))
    }

    func geglu(gate: Activations, up: Activations) {
        skiff_gated(pool.pool, SKIFF_GATE_GELU_TANH, gate.pointer, up.pointer, gate.pointer, Int64(batch.count * gate.width))
    }

    func add(_ y: Activations, into x: Activations) {
        skiff_add(x.pointer, y.pointer, Int64(batch.count * x.width))
    }

    func logits(_ x: Activations, norm: [Float], epsilon: Float, output: WeightMatrix, bias: [Float]?) -> [Float] {
        let rows = batch.logitIndices.count
        guard rows > 0 else { return [] }
        let d = x.width
        let normed: Activations
        if let kept = headInput, kept.width == d {
            normed = kept
        } else {
            normed = Activations(width: d, rows: maxBatchTokens)
            headInput = normed
        }
        let vocabulary = output.rows
        var logits = [Float](repeating: 0, count: rows * vocabulary)
        var start = 0
        while start < rows {
            let count = min(maxBatchTokens, rows - start)
            for j in 0 ..< count {
                skiff_rms_norm(x.pointer + batch.logitIndices[start + j] * d, Int64(d), norm, normed.pointer + j * d, Int64(d), 1, Int64(d), epsilon)
            }
            logits.withUnsafeMutableBufferPointer { out in
                let rows = out.baseAddress! + start * vocabulary
                product(output, input: normed, rows: count, into: rows, outStride: vocabulary, accumulate: false)
                if let bias { for j in 0 ..< count { skiff_add(rows + j * vocabulary, bias, Int64(vocabulary)) } }
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

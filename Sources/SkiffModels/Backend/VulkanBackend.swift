import Foundation
import SkiffGGUF
import SkiffHyperparameters
import CVulkan
import SkiffVulkan

/// The Vulkan backend: Skiff's compute shaders (`SkiffVulkan`) on one Vulkan device. Weights are copied to
/// device memory once, in their GGUF block layouts, the first time an operation uses them; activations and the
/// paged KV cache live in device memory. Every operation of a forward pass is recorded into one command
/// buffer, run when `logits` asks for its result; only the logits come back to the host.
///
/// Each step's small inputs (token ids, cache slots, block tables, RoPE's cosines and sines, norm weights and
/// biases: kilobytes) are written by the host into mapped memory the shaders read. Models with recurrent layers
/// (Mamba-2, Llamba) are refused: their kernels exist on the CPU only.
final class VulkanBackend: ComputeBackend {
    /// A batch's rows of `width` floats in device memory.
    final class Activations {
        let buffer: DeviceBuffer
        let width: Int

        init(buffer: DeviceBuffer, width: Int) {
            self.buffer = buffer
            self.width = width
        }
    }

    /// A weight matrix in device memory, and the shaders that compute with its type.
    private struct DeviceMatrix {
        /// Consecutive rows in a buffer of their own, which the shaders read as a texel buffer of 32-bit words.
        struct Part {
            let buffer: DeviceBuffer
            let words: VkBufferView
            let firstRow: Int
            let rows: Int
        }
        /// The rows in parts of at most `weightPartBytes` each: one texel buffer spans at most
        /// `maxTexelBufferElements` words (512 MiB on NVIDIA's drivers), less than a large model's embedding table
        /// or output head.
        let parts: [Part]
        let rows: Int
        let columns: Int
        let rowBytes: Int
        /// The type's name in the shader variants (`matvec_q4_1`); each variant is made on first use.
        let type: String
    }

    /// One layer's keys and values in device memory (IEEE half, slot-major: block × block size + position).
    private struct CacheLayer {
        let group: Int
        let keys: DeviceBuffer
        let values: DeviceBuffer
        /// KV heads × head dimension.
        let width: Int
    }

    /// The shaders every model uses.
    private struct Pipelines {
        let rmsNorm, rope, kvStore, attention, swiglu, geglu, add, addBias: ComputePipeline

        init(_ device: VulkanDevice) throws(VulkanError) {
            rmsNorm = try device.pipeline("rms_norm")
            rope = try device.pipeline("rope")
            kvStore = try device.pipeline("kv_store")
            attention = try device.pipeline("attention")
            swiglu = try device.pipeline("swiglu")
            geglu = try device.pipeline("geglu")
            add = try device.pipeline("add")
            addBias = try device.pipeline("add_bias")
        }
    }

    /// The fewest tokens of one sequence in a step whose products take the tiled shader; fewer take the
    /// matrix-vector one. On a GPU, 17. On a device that runs a workgroup's threads as CPU vector lanes (lavapipe),
    /// never: it loads shared memory lane by lane, and the matrix-vector shader there is 4.7 times faster for a
    /// 64-token prompt (SmolLM2).
    let tiledFromTokens: Int
    /// The step's tokens in runs that take one product shader: a sequence's tokens take the tiled one when it has
    /// `tiledFromTokens` of them in the step, whatever the other sequences have, so a token's sums never depend on
    /// which sequences share its step (the two shaders add in different orders).
    private var productRuns: [ProductRun] = []
    /// Whether the matrix-vector products of `integerDotTypes` use 8-bit integer dot products (`matvec_q8`) over
    /// activations quantized by `quantize_q8`: where the device runs them in hardware, or as `RunnerOptions` says.
    let integerDot: Bool
    /// The weight types (shader suffixes) with integer dot-product shaders: blocks of 32 values.
    private static let integerDotTypes: Set<String> = ["q4_0", "q4_1", "q8_0"]
    /// The most bytes of one part of a weight matrix on the device (`DeviceMatrix.parts`): what one texel buffer view
    /// spans. Tests lower it to split small matrices.
    var weightPartBytes: Int
    /// The widest activation a product takes, which sizes the quantized copy.
    private let widestActivation: Int
    /// A product input quantized for the integer dot products: int8 values, and a scale and sum per block of 32.
    private var quantized: (values: DeviceBuffer, scales: DeviceBuffer)?
    /// Rows of logits computed and read back per submission.
    private static let logitRowsPerSubmission = 64

    /// Bytes of the output head's scratch on the device: its rows of logits read back at once, and the first chunk
    /// of step inputs.
    static func headScratchBytes(vocabularySize: Int) -> Int {
        logitRowsPerSubmission * vocabularySize * 4 + StepInputs.initialBytes
    }

    let device: VulkanDevice
    let maxBatchTokens: Int
    private let stream: CommandStream
    private let pipelines: Pipelines
    private let groups: [CacheLayout.BlockGroup]
    private let blockSize: Int
    private let blockCount: Int
    private let layers: [CacheLayer?]
    private let inputs: StepInputs
    private var weights: [ObjectIdentifier: DeviceMatrix] = [:]
    private var embeddingTables: [Int: DeviceMatrix] = [:]
    /// The current batch, and where its inputs are: token ids, and per block group each token's cache slot and
    /// attention range (block table offset, context length, first position).
    private var batch = ForwardBatch()
    private var tokenIds: StepInputs.Region!
    private var groupInputs: [(slots: StepInputs.Region, ranges: StepInputs.Region)] = []
    private var blockTables: StepInputs.Region!
    /// This step's RoPE tables, by the frequencies they were made from.
    private var ropeTables: [(frequencies: [Float], region: StepInputs.Region)] = []
    private var headInput: Activations?
    private var logitBuffer: DeviceBuffer?

    init(options: RunnerOptions, layout: CacheLayout, widestActivation: Int) throws(ModelError) {
        guard case .vulkan(let index) = options.device else {
            preconditionFailure("a Vulkan backend made for device \(options.device)")
        }
        guard options.maxBatchTokens > 0 else {
            throw ModelError(.invalidHyperparameter, "the batch size must be at least one token")
        }
        guard !layout.hasRecurrentLayers else {
            throw ModelError(.unsupportedArchitecture, "this model has state-space (recurrent) layers, whose kernels run on the CPU only so far; use --device cpu")
        }
        guard options.blockSize > 0, options.cacheBlocks > 0 else {
            throw ModelError(.invalidHyperparameter, "a KV cache needs at least one block of at least one token")
        }
        do throws(VulkanError) {
            device = try VulkanDevice(index: index)
            stream = try CommandStream(device: device)
            pipelines = try Pipelines(device)
            inputs = try StepInputs(device: device)
        } catch {
            throw ModelError(error)
        }
        maxBatchTokens = options.maxBatchTokens
        weightPartBytes = device.maxTexelBufferElements * 4
        self.widestActivation = widestActivation
        if options.integerDotProducts == true, !device.integerDotProduct {
            throw ModelError(.deviceUnavailable, "Vulkan device \(device.info.name) has no 8-bit integer dot products (VK_KHR_shader_integer_dot_product)")
        }
        integerDot = device.integerDotProduct && (options.integerDotProducts ?? device.info.acceleratedInt8DotProduct)
        tiledFromTokens = options.tiledProductFromTokens ?? (device.info.kind == .cpu ? .max : 17)
        groups = layout.blockGroups
        blockSize = options.blockSize
        blockCount = options.cacheBlocks
        let (shapes, layerSlots) = try KVCacheStorage.slots(of: layout)
        var slotBuffers: [(keys: DeviceBuffer, values: DeviceBuffer)] = []
        for (slot, shape) in shapes.enumerated() {
            let bytes = options.cacheBlocks * options.blockSize * shape.kvHeads * shape.headDimension * KVCacheStorage.bytesPerElement
            do throws(VulkanError) {
                slotBuffers.append((try device.buffer(byteCount: bytes, hostVisible: false, purpose: "the KV cache's keys (slot \(slot))"),
                                    try device.buffer(byteCount: bytes, hostVisible: false, purpose: "the KV cache's values (slot \(slot))")))
            } catch {
                throw ModelError(error)
            }
        }
        layers = layerSlots.map { entry in
            entry.map { entry in
                CacheLayer(group: entry.group, keys: slotBuffers[entry.slot].keys, values: slotBuffers[entry.slot].values,
                           width: shapes[entry.slot].kvHeads * shapes[entry.slot].headDimension)
            }
        }
    }

    func activations(width: Int) throws(ModelError) -> Activations {
        do throws(VulkanError) {
            return Activations(buffer: try device.buffer(byteCount: maxBatchTokens * width * 4, hostVisible: false, purpose: "activations"),
                               width: width)
        } catch {
            throw ModelError(error)
        }
    }

    func begin(_ batch: ForwardBatch, vocabularySize: Int) throws(ModelError) {
        try batch.check(maxTokens: maxBatchTokens, vocabularySize: vocabularySize, groups: groups, blockSize: blockSize, blockCount: blockCount)
        self.batch = batch
        productRuns = ProductRun.runs(tiled(batch.sequences))
        try wrap { () throws(VulkanError) in
            try inputs.reset()
            ropeTables = []
            tokenIds = try inputs.write(batch.tokens)
            // Block tables flattened, each sequence's tables at an offset; each token's slot and attention range per group.
            var flat: [Int32] = []
            var offsets: [[Int]] = []
            for sequenceTables in batch.blockTables {
                offsets.append(sequenceTables.map { table in
                    defer { flat += table }
                    return flat.count
                })
            }
            blockTables = try inputs.write(flat.isEmpty ? [0] : flat)
            groupInputs = try groups.enumerated().map { g, group throws(VulkanError) in
                var slots: [Int32] = []
                var ranges: [Int32] = []
                for i in 0 ..< batch.count {
                    let s = Int(batch.sequences[i])
                    let position = Int(batch.positions[i])
                    let table = batch.blockTables[s][g]
                    slots.append(table[position / blockSize] * Int32(blockSize) + Int32(position % blockSize))
                    let first = group.window.map { max(0, position + 1 - $0) } ?? 0
                    ranges += [Int32(offsets[s][g]), Int32(position + 1), Int32(first)]
                }
                return (try inputs.write(slots), try inputs.write(ranges))
            }
        }
    }

    /// Records `pipeline` over `groups` workgroups, followed by a barrier unless `barrier` is false (dispatches
    /// that write different buffers from the same inputs).
    private func dispatch(_ pipeline: ComputePipeline, _ constants: PushConstants, texels: [VkBufferView] = [], groups x: Int, _ y: Int = 1,
                          barrier: Bool = true) {
        stream.dispatch(pipeline, constants, texels: texels, groups: x, y)
        if barrier { stream.barrier() }
    }

    func embed(_ embedding: TokenEmbedding, into x: Activations, scale: Float) throws(ModelError) {
        let table: DeviceMatrix
        switch embedding {
        case .packed(let matrix): table = try deviceMatrix(matrix)
        case .mapped(let source, _):
            if let known = embeddingTables[source.offset] {
                table = known
            } else {
                table = try upload(source, name: "token_embd.weight")
                embeddingTables[source.offset] = table
            }
        }
        var c = PushConstants()
        c.address(tokenIds.buffer, offset: tokenIds.offset)
        c.address(x.buffer)
        c.uint(table.rowBytes)
        c.uint(table.columns)
        c.uint(batch.count)
        c.uint(x.width)
        c.float(scale)
        // Each part writes the tokens whose rows it holds.
        for part in table.parts {
            var partConstants = c
            partConstants.uint(part.firstRow)
            partConstants.uint(part.rows)
            dispatch(try pipeline("dequantize_" + table.type), partConstants, texels: [part.words], groups: (table.columns / 8 + 63) / 64,
                     batch.count, barrier: part.firstRow + part.rows == table.rows)
        }
    }

    func rmsNorm(_ x: Activations, weight: [Float], groups: Int, epsilon: Float, into out: Activations) {
        guard let w = vector(weight) else { return }
        normRows(x, weight: w, width: weight.count, groups: groups, rows: batch.count, epsilon: epsilon, into: out)
    }

    /// RMSNorm of `rows` rows of `x`, each `groups` slices of `width` values, with the step input `weight`.
    private func normRows(_ x: Activations, weight: StepInputs.Region, width: Int, groups: Int, rows: Int, epsilon: Float,
                          into out: Activations) {
        var c = PushConstants()
        c.address(x.buffer)
        c.address(weight.buffer, offset: weight.offset)
        c.address(out.buffer)
        c.uint(width)
        c.uint(groups)
        c.uint(x.width)
        c.uint(out.width)
        c.float(epsilon)
        dispatch(pipelines.rmsNorm, c, groups: rows * groups)
    }

    func matmuls(_ products: [(WeightMatrix, Activations)], input: Activations) throws(ModelError) {
        var quantizedInput = false
        for (i, (w, out)) in products.enumerated() {
            try product(w, input: input, tokens: batch.count, runs: productRuns, into: out.buffer, offset: 0, stride: out.width, accumulate: false,
                        barrier: i == products.count - 1, quantizedInput: &quantizedInput)
        }
    }

    func matmul(_ w: WeightMatrix, input: Activations, into out: Activations, accumulate: Bool) throws(ModelError) {
        var quantizedInput = false
        try product(w, input: input, tokens: batch.count, runs: productRuns, into: out.buffer, offset: 0, stride: out.width,
                    accumulate: accumulate, barrier: true, quantizedInput: &quantizedInput)
    }

    /// Tokens `first ..< first + count` of a step, whose products take the tiled shader or the matrix-vector one.
    private struct ProductRun {
        var first: Int
        var count: Int
        var tiled: Bool

        /// The runs of equal flags in `tiled`, one per token.
        static func runs(_ tiled: some Collection<Bool>) -> [ProductRun] {
            var runs: [ProductRun] = []
            for (i, flag) in tiled.enumerated() {
                if let last = runs.last, last.tiled == flag {
                    runs[runs.count - 1].count += 1
                } else {
                    runs.append(ProductRun(first: i, count: 1, tiled: flag))
                }
            }
            return runs
        }
    }

    /// For rows belonging to `sequences` (one entry per row), whether each takes the tiled shader: when its sequence
    /// has at least `tiledFromTokens` of the rows.
    private func tiled(_ sequences: [Int32]) -> [Bool] {
        var rowsOf: [Int32: Int] = [:]
        for s in sequences { rowsOf[s, default: 0] += 1 }
        return sequences.map { rowsOf[$0, default: 0] >= tiledFromTokens }
    }

    /// `w` times the rows of `input` that `runs` name (of its first `tokens` rows), into the same rows of `out` (from
    /// byte `offset`, `stride` values apart), each run with its shader; a barrier after the last dispatch when
    /// `barrier`. With integer dot products the input is quantized first unless `quantizedInput` says it already is
    /// (products of one input in a row).
    private func product(_ w: WeightMatrix, input: Activations, tokens: Int, runs: [ProductRun], into out: DeviceBuffer, offset: Int,
                         stride: Int, accumulate: Bool, barrier: Bool, quantizedInput: inout Bool) throws(ModelError) {
        let m = try deviceMatrix(w)
        let inputTexels = try wrap { () throws(VulkanError) in try input.buffer.texelView(VK_FORMAT_R32G32B32A32_SFLOAT) }
        var dotTexels: [VkBufferView] = []
        if integerDot, Self.integerDotTypes.contains(m.type), runs.contains(where: { !$0.tiled }) {
            let q = try quantizedBuffers()
            if !quantizedInput {
                var c = PushConstants()
                c.address(q.values)
                c.address(q.scales)
                c.uint(tokens)
                c.uint(m.columns)
                c.uint(input.width)
                dispatch(try pipeline("quantize_q8"), c, texels: [inputTexels], groups: (tokens * m.columns / 32 + 63) / 64)
                quantizedInput = true
            }
            dotTexels = try wrap { () throws(VulkanError) in
                [try q.values.texelView(VK_FORMAT_R32G32B32A32_UINT), try q.scales.texelView(VK_FORMAT_R32G32_SFLOAT)]
            }
        }
        for (i, run) in runs.enumerated() {
            // Each part of the matrix gives its rows of the output.
            for part in m.parts {
                var c = PushConstants()
                c.address(out, offset: offset + 4 * part.firstRow)
                c.uint(m.rowBytes)
                c.uint(m.columns)
                c.uint(part.rows)
                c.uint(run.first)
                c.uint(run.count)
                c.uint(input.width)
                c.uint(stride)
                c.uint(accumulate ? 1 : 0)
                let last = barrier && i == runs.count - 1 && part.firstRow + part.rows == m.rows
                // The tiled shader takes 64 rows × 64 tokens a workgroup, the matrix-vector ones 8 × 8.
                let (shader, inputs, tile) = run.tiled ? ("matmul_", [inputTexels], 64)
                    : dotTexels.isEmpty ? ("matvec_", [inputTexels], 8) : ("matvec_q8_", dotTexels, 8)
                dispatch(try pipeline(shader + m.type), c, texels: [part.words] + inputs, groups: (part.rows + tile - 1) / tile,
                         (run.count + tile - 1) / tile, barrier: last)
            }
        }
    }

    /// The buffers of a quantized product input, made on first use: `maxBatchTokens` rows of `widestActivation` int8
    /// values, and a scale and sum (two floats) per block of 32.
    private func quantizedBuffers() throws(ModelError) -> (values: DeviceBuffer, scales: DeviceBuffer) {
        if let quantized { return quantized }
        let made = try wrap { () throws(VulkanError) in
            (try device.buffer(byteCount: maxBatchTokens * widestActivation, hostVisible: false, purpose: "int8 activations"),
             try device.buffer(byteCount: maxBatchTokens * widestActivation / 32 * 8, hostVisible: false, purpose: "int8 activations' scales"))
        }
        quantized = made
        return made
    }

    func addBias(_ bias: [Float], to x: Activations) {
        guard let b = vector(bias) else { return }
        elementwise(pipelines.addBias, x.buffer, count: batch.count * x.width, width: x.width, b.buffer, b.offset)
    }

    func rope(_ x: Activations, heads: Int, headDimension: Int, inverseFrequencies: [Float], neox: Bool) {
        guard let table = ropeTable(inverseFrequencies) else { return }
        var c = PushConstants()
        c.address(x.buffer)
        c.address(table.buffer, offset: table.offset)
        c.uint(heads)
        c.uint(headDimension)
        c.uint(inverseFrequencies.count)
        c.uint(x.width)
        c.uint(neox ? 1 : 0)
        dispatch(pipelines.rope, c, groups: (heads * inverseFrequencies.count + 63) / 64, batch.count)
    }

    /// Each token's cosines and sines of its position times `frequencies` (computed as the CPU kernel computes
    /// them), made once per step for each set of frequencies.
    private func ropeTable(_ frequencies: [Float]) -> StepInputs.Region? {
        if let known = ropeTables.first(where: { $0.frequencies == frequencies }) { return known.region }
        var table = [Float](repeating: 0, count: 2 * batch.count * frequencies.count)
        for i in 0 ..< batch.count {
            let position = Float(batch.positions[i])
            for (j, frequency) in frequencies.enumerated() {
                let theta = position * frequency
                table[2 * (i * frequencies.count + j)] = cos(theta)
                table[2 * (i * frequencies.count + j) + 1] = sin(theta)
            }
        }
        guard let region = record({ () throws(VulkanError) in try inputs.write(table) }) else { return nil }
        ropeTables.append((frequencies, region))
        return region
    }

    func storeKeysAndValues(layer: Int, keys: Activations, values: Activations) {
        guard let cache = layers[layer] else { preconditionFailure("layer \(layer) has no KV cache") }
        let slots = groupInputs[cache.group].slots
        var c = PushConstants()
        c.address(keys.buffer)
        c.address(values.buffer)
        c.address(cache.keys)
        c.address(cache.values)
        c.address(slots.buffer, offset: slots.offset)
        c.uint(cache.width)
        c.uint(keys.width)
        c.uint(values.width)
        dispatch(pipelines.kvStore, c, groups: (cache.width + 63) / 64, batch.count)
    }

    func attend(layer: Int, queries: Activations, heads: Int, headDimension: Int, scale: Float, into out: Activations) throws(ModelError) {
        guard let cache = layers[layer] else { preconditionFailure("layer \(layer) has no KV cache") }
        guard headDimension <= 512, heads % (cache.width / headDimension) == 0 else {
            throw ModelError(.unsupportedTensor, "the attention shader takes heads of at most 512 values, query heads a multiple of KV heads; this model has \(heads) heads of \(headDimension)")
        }
        let ranges = groupInputs[cache.group].ranges
        var c = PushConstants()
        c.address(queries.buffer)
        c.address(out.buffer)
        c.address(cache.keys)
        c.address(cache.values)
        c.address(blockTables.buffer, offset: blockTables.offset)
        c.address(ranges.buffer, offset: ranges.offset)
        c.uint(heads)
        c.uint(cache.width / headDimension)
        c.uint(headDimension)
        c.uint(blockSize)
        c.uint(queries.width)
        c.uint(out.width)
        c.float(scale)
        dispatch(pipelines.attention, c, groups: heads, batch.count)
    }

    func convolve(layer: Int, _ x: Activations, column: Int, channels: Int, weight: [Float], bias: [Float]?, silu: Bool) throws(ModelError) {
        throw Self.recurrentLayersRefused
    }

    func copyState(from source: Int, to destination: Int) throws(ModelError) {
        throw Self.recurrentLayersRefused
    }

    func scan(layer: Int, _ input: Activations, _ scan: SelectiveScan, into y: Activations) throws(ModelError) {
        throw Self.recurrentLayersRefused
    }

    func gatedGroupNorm(_ y: Activations, gate: Activations, column: Int, weight: [Float], groups: Int, epsilon: Float) {
        preconditionFailure(Self.recurrentLayersRefused.message)
    }

    func gate(_ y: Activations, by gate: Activations, column: Int, bias: [Float]?) {
        preconditionFailure(Self.recurrentLayersRefused.message)
    }

    private static let recurrentLayersRefused = ModelError(.unsupportedArchitecture, "state-space layers run on the CPU only so far; use --device cpu")

    func swiglu(gate: Activations, up: Activations) {
        elementwise(pipelines.swiglu, gate.buffer, count: batch.count * gate.width, width: gate.width, up.buffer, 0)
    }

    func geglu(gate: Activations, up: Activations) {
        elementwise(pipelines.geglu, gate.buffer, count: batch.count * gate.width, width: gate.width, up.buffer, 0)
    }

    func add(_ y: Activations, into x: Activations) {
        elementwise(pipelines.add, x.buffer, count: batch.count * x.width, width: x.width, y.buffer, 0)
    }

    /// a = f(a, b) over the first `count` values of `a`, rows of `width` (for a bias, b's length).
    private func elementwise(_ pipeline: ComputePipeline, _ a: DeviceBuffer, count: Int, width: Int, _ b: DeviceBuffer, _ bOffset: Int) {
        var c = PushConstants()
        c.address(a)
        c.address(b, offset: bOffset)
        c.uint(count)
        c.uint(width)
        let groups = (count + 63) / 64
        dispatch(pipeline, c, groups: min(groups, 65535), (groups + 65534) / 65535)
    }

    func logits(_ x: Activations, norm: [Float], epsilon: Float, output: WeightMatrix, bias: [Float]?) throws(ModelError) -> [Float] {
        let rows = batch.logitIndices.count
        guard rows > 0 else {
            try wrap { () throws(VulkanError) in try stream.submitAndWait() }
            return []
        }
        let head = try deviceMatrix(output)
        let d = x.width
        let perSubmission = min(Self.logitRowsPerSubmission, maxBatchTokens)
        if headInput?.width != d { headInput = try activations(width: d) }
        let normed = headInput!
        let vocabulary = head.rows
        if logitBuffer == nil {
            logitBuffer = try wrap { () throws(VulkanError) in
                try device.buffer(byteCount: perSubmission * vocabulary * 4, hostVisible: true, purpose: "logits")
            }
        }
        let out = logitBuffer!
        var logits = [Float](repeating: 0, count: rows * vocabulary)
        let w = vector(norm)
        let b = bias.flatMap(vector)
        let rowTiled = tiled(batch.logitIndices.map { batch.sequences[$0] })
        var start = 0
        while start < rows, let w {
            let count = min(perSubmission, rows - start)
            for j in 0 ..< count {
                stream.copy(from: x.buffer, offset: batch.logitIndices[start + j] * d * 4, to: normed.buffer, offset: j * d * 4, byteCount: d * 4)
            }
            stream.barrier()
            normRows(normed, weight: w, width: d, groups: 1, rows: count, epsilon: epsilon, into: normed)
            var quantizedInput = false
            try product(output, input: normed, tokens: count, runs: ProductRun.runs(rowTiled[start ..< start + count]), into: out, offset: 0,
                        stride: vocabulary, accumulate: false, barrier: true, quantizedInput: &quantizedInput)
            if let b { elementwise(pipelines.addBias, out, count: count * vocabulary, width: vocabulary, b.buffer, b.offset) }
            try wrap { () throws(VulkanError) in try stream.submitAndWait() }
            logits.withUnsafeMutableBytes { logits in
                (logits.baseAddress! + start * vocabulary * 4).copyMemory(from: out.mapped!, byteCount: count * vocabulary * 4)
            }
            start += count
        }
        try inputs.failure.map { error throws(ModelError) in throw ModelError(error) }
        return logits
    }

    /// A step input vector (norm weights, a bias) in mapped memory.
    private func vector(_ values: [Float]) -> StepInputs.Region? {
        record { () throws(VulkanError) in try inputs.write(values) }
    }

    /// Runs `body`, whose failure is kept to be thrown when the pass is run (`logits`): the operations that only
    /// record do not throw.
    private func record(_ body: () throws(VulkanError) -> StepInputs.Region) -> StepInputs.Region? {
        do {
            return try body()
        } catch {
            inputs.failure = inputs.failure ?? error
            return nil
        }
    }

    private func wrap<T>(_ body: () throws(VulkanError) -> T) throws(ModelError) -> T {
        do {
            return try body()
        } catch {
            throw ModelError(error)
        }
    }

    /// The pipeline of shader variant `name`, made on first use.
    private func pipeline(_ name: String) throws(ModelError) -> ComputePipeline {
        try wrap { () throws(VulkanError) in try device.pipeline(name) }
    }

    /// The device copy of `w`, made on first use.
    private func deviceMatrix(_ w: WeightMatrix) throws(ModelError) -> DeviceMatrix {
        if let known = weights[ObjectIdentifier(w)] { return known }
        let m = try upload(w.source, name: "a weight matrix")
        weights[ObjectIdentifier(w)] = m
        return m
    }

    /// Copies `source`'s rows to device memory, in parts of at most `weightPartBytes`; the file's pages are released
    /// again after the copy.
    private func upload(_ source: WeightSource, name: String) throws(ModelError) -> DeviceMatrix {
        guard let suffix = Self.shaderSuffix(source.type) else {
            throw ModelError(.unsupportedTensor, "\(name) is \(source.type), which the Vulkan shaders do not compute with")
        }
        guard source.columns % 32 == 0 else {
            throw ModelError(.unsupportedTensor, "\(name) has rows of \(source.columns) values; the Vulkan shaders need a multiple of 32")
        }
        guard source.rowBytes <= weightPartBytes else {
            throw ModelError(.unsupportedTensor, "\(name) has rows of \(source.rowBytes) bytes, more than one texel buffer of this device spans (\(weightPartBytes) bytes)")
        }
        let rowsPerPart = weightPartBytes / source.rowBytes
        return try wrap { () throws(VulkanError) in
            let bytes = source.bytes
            var parts: [DeviceMatrix.Part] = []
            for first in stride(from: 0, to: source.rows, by: rowsPerPart) {
                let rows = min(rowsPerPart, source.rows - first)
                let buffer = try device.buffer(byteCount: rows * source.rowBytes, hostVisible: false,
                                               purpose: parts.isEmpty && rows == source.rows ? name : "\(name) (rows \(first) to \(first + rows - 1))")
                try device.upload(UnsafeRawBufferPointer(rebasing: bytes[first * source.rowBytes ..< (first + rows) * source.rowBytes]), to: buffer)
                parts.append(DeviceMatrix.Part(buffer: buffer, words: try buffer.texelView(VK_FORMAT_R32_UINT), firstRow: first, rows: rows))
            }
            source.file.release(source.offset ..< source.offset + bytes.count)
            return DeviceMatrix(parts: parts, rows: source.rows, columns: source.columns, rowBytes: source.rowBytes, type: suffix)
        }
    }

    /// The shader variants' name for a weight type (Shaders/dequant.glsl), or nil for a type they lack.
    static func shaderSuffix(_ type: GGMLType) -> String? {
        switch type {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .q4_0: "q4_0"
        case .q4_1: "q4_1"
        case .q5_0: "q5_0"
        case .q5_1: "q5_1"
        case .q8_0: "q8_0"
        case .iq4_NL: "iq4_nl"
        case .q2_K: "q2_k"
        case .q3_K: "q3_k"
        case .q4_K: "q4_k"
        case .q5_K: "q5_k"
        case .q6_K: "q6_k"
        case .iq4_XS: "iq4_xs"
        default: nil
        }
    }
}

/// A step's small inputs in mapped device-visible memory, written by the host while the step is recorded: a bump
/// allocator over chunks that grows (never moving what was written) and is made one chunk large enough at the
/// next step's start.
final class StepInputs {
    /// Where some bytes of this step's inputs are.
    struct Region {
        let buffer: DeviceBuffer
        let offset: Int
    }

    private let device: VulkanDevice
    private var chunks: [DeviceBuffer]
    private var used = 0
    private var total = 0
    /// The first failure of a write in this step, thrown when the step runs.
    var failure: VulkanError?

    /// Bytes of the first chunk.
    static let initialBytes = 1 << 20

    init(device: VulkanDevice) throws(VulkanError) {
        self.device = device
        chunks = [try device.buffer(byteCount: Self.initialBytes, hostVisible: true, purpose: "step inputs")]
    }

    /// Starts a step: what the last one wrote is free again.
    func reset() throws(VulkanError) {
        if chunks.count > 1 {
            chunks = [try device.buffer(byteCount: max(total, chunks.reduce(0) { $0 + $1.byteCount }), hostVisible: true, purpose: "step inputs")]
        }
        used = 0
        total = 0
        failure = nil
    }

    /// Copies `values` in, 16-byte aligned, and says where they are.
    func write<T: BitwiseCopyable>(_ values: [T]) throws(VulkanError) -> Region {
        let bytes = values.count * MemoryLayout<T>.stride
        used = (used + 15) & ~15
        if used + bytes > chunks.last!.byteCount {
            chunks.append(try device.buffer(byteCount: max(bytes, chunks.last!.byteCount * 2), hostVisible: true, purpose: "step inputs"))
            used = 0
        }
        let buffer = chunks.last!
        if bytes > 0 { values.withUnsafeBytes { (buffer.mapped! + used).copyMemory(from: $0.baseAddress!, byteCount: bytes) } }
        defer {
            used += bytes
            total += (bytes + 15) & ~15
        }
        return Region(buffer: buffer, offset: used)
    }
}

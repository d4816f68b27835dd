import CSkiffKernels
import Foundation
import GGUFTestSupport
import SkiffGGUF
import SkiffHyperparameters
@testable import SkiffModels
import Testing

/// The device's matrix products for every weight type the CPU kernels take, against the exact product in
/// double precision of the weights as `skiff_dequantize_row` reads them (itself checked bit for bit against
/// llama.cpp's definitions): the output head's path (token embedding, RMSNorm, product, bias) for 3 tokens
/// and for 37, through the matrix-vector shader and through the tiled one, over 40 rows, which fill neither
/// shader's tiles.
@Suite(.serialized) struct MatrixProductDeviceTests {
    static let types = GGMLType.allCases.filter { kernelType(for: $0) != nil }
    static let columns = 512
    static let rows = 40

    /// The largest difference allowed, relative to the largest output: float sums in other orders.
    static let tolerance = 1e-4

    @Test(arguments: types, [false, true])
    func productMatchesTheExactOne(type: GGMLType, tiled: Bool) async throws {
        try await runBlocking { for tokens in [3, 37] { try Self.check(type: type, tiled: tiled, tokens: tokens) } }
    }

    /// Matrices larger than one texel buffer spans are uploaded in parts of consecutive rows: here parts of 7 rows of
    /// the weights (6 parts, the last of 5) and of one to three rows of the 37-row F32 embedding table, the same answers.
    @Test(arguments: [GGMLType.q4_0, .q8_0, .q4_K, .f16], [false, true])
    func matricesInPartsGiveTheSameProduct(type: GGMLType, tiled: Bool) async throws {
        let rowBytes = Int(skiff_row_bytes(try #require(kernelType(for: type)), Int64(Self.columns)))
        try await runBlocking { try Self.check(type: type, tiled: tiled, tokens: 37, partBytes: max(7 * rowBytes, 4 * Self.columns)) }
    }

    /// With 8-bit integer dot products (forced here: lavapipe has them, though not in hardware), the types with
    /// blocks of 32 against the CPU backend, which quantizes activations to int8 the same way: the integer sums
    /// are the same, only the float scaling differs in order. (Measured: at most 2.2e-7 of the largest output.)
    @Test(arguments: [GGMLType.q4_0, .q4_1, .q8_0])
    func integerDotProductsMatchTheCPU(type: GGMLType) async throws {
        try await runBlocking {
            for tokens in [3, 37] {
                let (file, _, _, bias) = try Self.problem(type: type, tokens: tokens)
                var options = RunnerOptions(threads: 1, maxBatchTokens: 64, cacheBlocks: 1, blockSize: 16, stateSlots: 0)
                let cpu = try Self.headProduct(CPUBackend(options: options, layout: CacheLayout(layers: []), widestActivation: Self.columns),
                                               file: file, bias: bias, tokens: tokens)
                options.device = .vulkan(index: try VulkanTestDevice.index())
                options.tiledProductFromTokens = .max
                options.integerDotProducts = true
                let device = try VulkanBackend(options: options, layout: CacheLayout(layers: []), widestActivation: Self.columns)
                #expect(device.integerDot)
                let got = try Self.headProduct(device, file: file, bias: bias, tokens: tokens)
                let largest = cpu.map(abs).max() ?? 1
                let worst = zip(got, cpu).map { abs($0 - $1) }.max() ?? .infinity
                #expect(got.count == cpu.count && worst <= 1e-5 * largest, "\(type), \(tokens) tokens: largest difference \(worst), largest output \(largest)")
            }
        }
    }

    /// Random weights `w` of `type` and inputs `x` of `tokens` rows in a GGUF file (also returned as they are), and a bias.
    static func problem(type: GGMLType, tokens: Int) throws -> (file: GGUFFile, weights: [UInt8], inputs: [Float], bias: [Float]) {
        var rng = SplitMix64(state: UInt64(type.rawValue * 100 + UInt32(tokens)))
        let skiffType = try #require(kernelType(for: type))
        let weights = randomRows(skiffType, rows: Self.rows, columns: Self.columns, using: &rng)
        let inputs = (0 ..< tokens * Self.columns).map { _ in Float.random(in: -1 ... 1, using: &rng) }
        let bias = (0 ..< Self.rows).map { _ in Float.random(in: -0.5 ... 0.5, using: &rng) }
        var builder = GGUFBuilder()
        builder.tensors = [
            .init(name: "x", dimensions: [UInt64(Self.columns), UInt64(tokens)], typeID: GGMLType.f32.rawValue,
                  data: inputs.withUnsafeBytes { Array($0) }),
            .init(name: "w", dimensions: [UInt64(Self.columns), UInt64(Self.rows)], typeID: type.rawValue, data: weights),
        ]
        return (try builder.file(), weights, inputs, bias)
    }

    /// The output head's path on `backend`: the rows of `x` as token embeddings, RMSNorm with unit weights, `w`, the bias.
    static func headProduct(_ backend: some ComputeBackend, file: GGUFFile, bias: [Float], tokens: Int) throws -> [Float] {
        let loader = WeightLoader(file: file)
        let w = try loader.matrix("w", columns: Self.columns, rows: Self.rows)
        let x = try loader.matrix("x", columns: Self.columns, rows: tokens)
        var batch = ForwardBatch()
        let s = batch.addSequence(blockTables: CacheLayout(layers: []).blockGroups.map { _ in [0, 0, 0] }, stateSlot: -1)
        for t in 0 ..< tokens { batch.add(token: Int32(t), position: Int32(t), sequence: s, wantsLogits: true) }
        try backend.begin(batch, vocabularySize: tokens)
        let activations = try backend.activations(width: Self.columns)
        try backend.embed(.packed(x), into: activations, scale: 1)
        return try backend.logits(activations, norm: [Float](repeating: 1, count: Self.columns), epsilon: 1e-6, output: w, bias: bias)
    }

    static func check(type: GGMLType, tiled: Bool, tokens: Int, partBytes: Int? = nil) throws {
        let skiffType = try #require(kernelType(for: type))
        let (file, weights, inputs, bias) = try problem(type: type, tokens: tokens)
        var options = RunnerOptions(threads: 1, maxBatchTokens: 64, cacheBlocks: 1, blockSize: 16, stateSlots: 0)
        options.device = .vulkan(index: try VulkanTestDevice.index())
        options.tiledProductFromTokens = tiled ? 1 : .max
        options.integerDotProducts = false
        let backend = try VulkanBackend(options: options, layout: CacheLayout(layers: []), widestActivation: Self.columns)
        if let partBytes { backend.weightPartBytes = partBytes }
        let got = try headProduct(backend, file: file, bias: bias, tokens: tokens)

        // The exact answer: the dequantized weights times each normed input row, plus the bias.
        var dequantized = [Float](repeating: 0, count: Self.rows * Self.columns)
        let rowBytes = weights.count / Self.rows
        weights.withUnsafeBytes { bytes in
            for r in 0 ..< Self.rows {
                dequantized.withUnsafeMutableBufferPointer {
                    skiff_dequantize_row(skiffType, bytes.baseAddress! + r * rowBytes, $0.baseAddress! + r * Self.columns, Int64(Self.columns))
                }
            }
        }
        var expected: [Double] = []
        for t in 0 ..< tokens {
            let row = inputs[t * Self.columns ..< (t + 1) * Self.columns].map(Double.init)
            let scale = 1 / ((row.reduce(0) { $0 + $1 * $1 } / Double(Self.columns) + 1e-6).squareRoot())
            for r in 0 ..< Self.rows {
                var sum = Double(bias[r])
                for c in 0 ..< Self.columns { sum += Double(dequantized[r * Self.columns + c]) * row[c] * scale }
                expected.append(sum)
            }
        }
        #expect(got.count == expected.count)
        let largest = expected.map(abs).max() ?? 1
        let worst = zip(got, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
        #expect(worst <= Self.tolerance * largest, "\(type), \(tiled ? "tiled" : "matrix-vector"), \(tokens) tokens: largest difference \(worst), largest output \(largest)")
    }
}

import Foundation
import GGUFTestSupport
import SkiffGGUF
import SkiffHyperparameters
@testable import SkiffModels
import Testing

/// Each transformer architecture's forward pass on the Vulkan device (lavapipe under `make test`) against the
/// CPU backend on the same tiny random model: a prompt, then decode steps of two sequences in one batch, through
/// block tables in a paged cache; and a sequence's logits whatever shares its batch.
@Suite(.serialized) struct TinyModelDeviceTests {
    static let transformers = TinyModel.architectures.filter { $0 != "mamba2" }

    /// Logits of every step of a fixed schedule: two prompts in one batch (each longer than gemma3's 8-token
    /// window), then four decode steps of both sequences.
    static func run(_ runner: any ModelRunner, vocabulary: Int, groups: Int) throws -> [[Float]] {
        let promptA: [Int32] = (0 ..< 21).map { Int32(($0 * 37 + 5) % vocabulary) }
        let promptB: [Int32] = (0 ..< 13).map { Int32(($0 * 11 + 3) % vocabulary) }
        let tables: [[[Int32]]] = [Array(repeating: [3, 0], count: groups), Array(repeating: [2, 6], count: groups)]
        var steps: [[Float]] = []
        var batch = ForwardBatch()
        let a = batch.addSequence(blockTables: tables[0], stateSlot: -1)
        let b = batch.addSequence(blockTables: tables[1], stateSlot: -1)
        for (i, t) in promptA.enumerated() { batch.add(token: t, position: Int32(i), sequence: a, wantsLogits: i == promptA.count - 1) }
        for (i, t) in promptB.enumerated() { batch.add(token: t, position: Int32(i), sequence: b, wantsLogits: i >= promptB.count - 2) }
        steps.append(try runner.forward(batch))
        for step in 0 ..< 4 {
            var batch = ForwardBatch()
            let a = batch.addSequence(blockTables: tables[0], stateSlot: -1)
            let b = batch.addSequence(blockTables: tables[1], stateSlot: -1)
            batch.add(token: Int32(step * 7 + 1), position: Int32(promptA.count + step), sequence: a, wantsLogits: true)
            batch.add(token: Int32(step * 5 + 2), position: Int32(promptB.count + step), sequence: b, wantsLogits: true)
            steps.append(try runner.forward(batch))
        }
        return steps
    }

    static func compare(_ architecture: String, allF32: Bool, tolerance: Float, integerDotProducts: Bool? = nil) throws {
        let file = try TinyModel.build(architecture: architecture, allF32: allF32).file()
        let model = try ModelArchitectures.load(file)
        var options = RunnerOptions(threads: 1, maxBatchTokens: 64, cacheBlocks: 8, blockSize: 16, stateSlots: 0)
        let cpu = try Self.run(try model.makeRunner(options), vocabulary: model.vocabularySize, groups: model.cacheLayout.blockGroups.count)
        options.device = .vulkan(index: try VulkanTestDevice.index())
        options.integerDotProducts = integerDotProducts
        let gpu = try Self.run(try model.makeRunner(options), vocabulary: model.vocabularySize, groups: model.cacheLayout.blockGroups.count)
        #expect(cpu.map(\.count) == gpu.map(\.count))
        for (step, (c, g)) in zip(cpu, gpu).enumerated() {
            let scale = c.map(abs).max() ?? 1
            let worst = zip(c, g).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= tolerance * scale, "\(architecture) step \(step): largest difference \(worst), largest logit \(scale)")
        }
    }

    /// Every weight F32: the CPU and the device compute the same sums in other orders. (Measured: at most 1.3e-4,
    /// gemma3's last decode step.)
    @Test(arguments: transformers)
    func f32WeightsMatchTheCPU(architecture: String) async throws {
        try await runBlocking { try Self.compare(architecture, allF32: true, tolerance: 1e-3) }
    }

    /// A sequence's logits are the same, bit for bit, whichever sequences share its steps, although the two product
    /// shaders add in different orders: with the tiled one taken from 4 tokens of a sequence, A (a 3-token prompt,
    /// then one token a step) always takes the matrix-vector shader, alone or beside B's prompt of 21 tokens and
    /// then chunks of 5. Taken from a step's total instead, A's tokens would go tiled beside B (the check that
    /// the shaders' sums do differ shows this test can fail).
    @Test(arguments: ["llama", "gemma3"])
    func aSequencesLogitsDoNotDependOnItsBatch(architecture: String) async throws {
        try await runBlocking {
            let file = try TinyModel.build(architecture: architecture, allF32: false).file()
            let model = try ModelArchitectures.load(file)
            let vocabulary = model.vocabularySize, groups = model.cacheLayout.blockGroups.count
            func logitsOfA(besideB: Bool, tiledFrom: Int) throws -> [[Float]] {
                var options = RunnerOptions(threads: 1, maxBatchTokens: 64, cacheBlocks: 8, blockSize: 16, stateSlots: 0)
                options.device = .vulkan(index: try VulkanTestDevice.index())
                options.tiledProductFromTokens = tiledFrom
                let runner = try model.makeRunner(options)
                var steps: [[Float]] = []
                var positionB = 0
                for step in 0 ..< 4 {
                    var batch = ForwardBatch()
                    let a = batch.addSequence(blockTables: Array(repeating: [3, 0], count: groups), stateSlot: -1)
                    let tokensA: [Int32] = step == 0 ? [5, 42, 17] : [Int32(step * 7 + 1)]
                    for (i, t) in tokensA.enumerated() {
                        batch.add(token: t, position: Int32(step == 0 ? i : 2 + step), sequence: a, wantsLogits: i == tokensA.count - 1)
                    }
                    if besideB {
                        let b = batch.addSequence(blockTables: Array(repeating: [2, 6, 7], count: groups), stateSlot: -1)
                        for i in 0 ..< (step == 0 ? 21 : 5) {
                            batch.add(token: Int32((positionB * 11 + 3) % vocabulary), position: Int32(positionB), sequence: b, wantsLogits: i == 0)
                            positionB += 1
                        }
                    }
                    steps.append(Array(try runner.forward(batch).prefix(vocabulary)))
                }
                return steps
            }
            let alone = try logitsOfA(besideB: false, tiledFrom: 4)
            #expect(try logitsOfA(besideB: true, tiledFrom: 4) == alone)
            #expect(try logitsOfA(besideB: false, tiledFrom: 1) != alone, "the two shaders give the same bits: this test could not fail")
        }
    }

    /// The test models' Q8_0 and F16 weights with the device's 8-bit integer dot products (forced: lavapipe has them,
    /// not in hardware), which quantize activations to int8 for the Q8_0 products as the CPU does; the F16 ones
    /// stay in floats on the device, where the CPU quantizes their activations too. (Measured: at most 1.9 %, gemma3's
    /// last decode step.)
    @Test(arguments: transformers)
    func quantizedWeightsWithIntegerDotProductsMatchTheCPU(architecture: String) async throws {
        try await runBlocking { try Self.compare(architecture, allF32: false, tolerance: 0.03, integerDotProducts: true) }
    }

    /// The test models' Q8_0 and F16 weights: the CPU quantizes activations to int8 for them, the device's float
    /// products (where it has no integer dot products in hardware, as lavapipe) do not.
    @Test(arguments: transformers)
    func quantizedWeightsMatchTheCPU(architecture: String) async throws {
        try await runBlocking { try Self.compare(architecture, allF32: false, tolerance: 0.02, integerDotProducts: false) }
    }
}

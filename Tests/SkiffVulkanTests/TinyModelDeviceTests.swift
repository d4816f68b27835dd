import Foundation
import GGUFTestSupport
import SkiffGGUF
import SkiffHyperparameters
@testable import SkiffModels
import Testing

/// Each transformer architecture's forward pass on the Vulkan device (lavapipe under `make test`) against the
/// CPU backend on the same tiny random model: a prompt (the tiled matrix product), then decode steps of two
/// sequences in one batch (the matrix-vector product), through block tables in a paged cache.
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

    static func compare(_ architecture: String, allF32: Bool, tolerance: Float) throws {
        let file = try TinyModel.build(architecture: architecture, allF32: allF32).file()
        let model = try ModelArchitectures.load(file)
        var options = RunnerOptions(threads: 1, maxBatchTokens: 64, cacheBlocks: 8, blockSize: 16, stateSlots: 0)
        let cpu = try Self.run(try model.makeRunner(options), vocabulary: model.vocabularySize, groups: model.cacheLayout.blockGroups.count)
        options.device = .vulkan(index: try VulkanTestDevice.index())
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

    /// The test models' Q8_0 and F16 weights: the CPU quantizes activations to int8 for them, the device does not.
    @Test(arguments: transformers)
    func quantizedWeightsMatchTheCPU(architecture: String) async throws {
        try await runBlocking { try Self.compare(architecture, allF32: false, tolerance: 0.02) }
    }
}

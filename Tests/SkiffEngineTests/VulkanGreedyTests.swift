import SkiffEngine
import SkiffModels
import Testing

/// The default model (SmolLM2, Q4_1) on the Vulkan device (lavapipe under `make test`) gives the CPU path's
/// greedy tokens on the correctness prompts (`GreedyGenerationTests`' fixture), up to the first step whose
/// top-2 margin in the reference is a near-tie. Lavapipe runs SmolLM2 at about 13 prompt tokens and 2 generated
/// tokens per second on two cores, so three prompts and eight tokens each are compared.
@Suite(.serialized) struct VulkanGreedyTests {
    static let prompts = 3
    static let tokens = 8

    @Test func greedyTokensMatchTheCPUPath() throws {
        let model = try TestModel.load()
        let device = try ComputeDevice.named("vulkan")
        var compared = 0
        // The prompts whose first steps are all clear in the reference.
        let cases = GreedyGenerationTests.fixture.cases.filter { c in
            c.decode_greedy_gaps.count >= Self.tokens && c.decode_greedy_gaps.prefix(Self.tokens).allSatisfy { $0 >= GreedyGenerationTests.nearTie }
        }
        for c in cases.prefix(Self.prompts) {
            let count = Self.tokens
            func greedy(on device: ComputeDevice) throws -> [Int32] {
                let session = try GenerationSession(model: model, contextLength: 128, device: device, threads: 2, batchSize: 64)
                var sampler = Sampler(.greedy)
                let logits = try session.append(c.prompt_tokens)
                return try session.generate(from: logits, maxTokens: count, sampler: &sampler) { _ in true }.tokens
            }
            let cpu = try greedy(on: .cpu)
            let gpu = try greedy(on: device)
            #expect(gpu == cpu, "'\(c.user)'")
            compared += count
        }
        #expect(compared == Self.prompts * Self.tokens)
    }
}

import Foundation
import SkiffSizing
import Testing

/// A `config.json` from the fixtures.
func fixtureModel(_ name: String) throws -> ModelShape {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "json"))
    return try ModelShape(huggingFaceConfig: Data(contentsOf: url), name: name)
}

/// The path of a model in the model cache, if it was pulled (`make test` pulls both test models).
func cachedModelPath(_ file: String) -> String? {
    let directory = ProcessInfo.processInfo.environment["SKIFF_MODEL_DIR"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/skiff/models").path
    let path = "\(directory)/\(file)"
    return FileManager.default.fileExists(atPath: path) ? path : nil
}

let defaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf"
let gemmaModelFile = "gemma-3-270m-q4_k_m.gguf"

@Suite struct AccountingTests {
    @Test func llama31With16BitCacheTakes128KiBPerToken() throws {
        let model = try fixtureModel("llama-3.1-8b")
        // 2 × 32 layers × 8 KV heads × 128 × 2 bytes.
        let cache = CacheAccounting(model: model, precision: .fp16)
        #expect(cache.bytesPerToken == 128 * 1024)
        #expect(cache.kvBytes(tokens: 8192) == 8192 * 128 * 1024)
        #expect(cache.stateBytesPerSequence == 0)
        // Embeddings and head 2 × 128256 × 4096, per layer q/o 2 × 4096², k/v 2 × 4096 × 1024,
        // MLP 3 × 4096 × 14336 and two norms, then the final norm.
        #expect(model.parameterCount == 8_030_261_248)
        #expect(try model.weightsBytes(precision: .bf16) == 16_060_522_496)
        #expect(try model.weightsBytes(precision: .fp8) == 8_030_261_248)
        #expect(CacheAccounting(model: model, precision: .fp8).bytesPerToken == 64 * 1024)
        #expect(CacheAccounting(model: model, precision: .q8_0).bytesPerToken == 32 * 8 * 256 * 34 / 32)
    }

    @Test func groupedQueryModelWithFourKVHeads() throws {
        let model = try fixtureModel("qwen2.5-7b")
        #expect(model.kvHeadCount == 4)
        // 2 × 28 × 4 × 128 × 2 = 56 KiB; the sliding window is off (use_sliding_window false).
        let cache = CacheAccounting(model: model)
        #expect(cache.bytesPerToken == 57_344)
        #expect(model.slidingWindowLayers == 0)
        // With q/k/v biases: the published 7.61 B.
        #expect(model.parameterCount == 7_615_616_512)
        // Blocks round up: 100 tokens hold 7 blocks of 16.
        #expect(cache.kvBytes(tokens: 100) == 112 * 57_344)
    }

    @Test func gemma3SlidingWindowLayersHoldOnlyTheirWindow() throws {
        let model = try fixtureModel("gemma-3-27b")
        #expect(model.fullAttentionLayers == 10)
        #expect(model.slidingWindowLayers == 52)
        let cache = CacheAccounting(model: model)
        // 2 × 16 KV heads × 128 × 2 bytes = 8 KiB per layer per token, 62 layers.
        #expect(cache.bytesPerToken == 62 * 8192)
        #expect(cache.bytesPerTokenBeyondWindows == 10 * 8192)
        // Inside the window every layer holds every token; beyond it only the 10 global layers grow, the others
        // holding the 65 blocks of 16 a 1024-token window spans.
        #expect(cache.kvBytes(tokens: 512) == 62 * 8192 * 512)
        #expect(cache.kvBytes(tokens: 131_072) == 10 * 8192 * 131_072 + 52 * 8192 * 1040)
        // Steps of 512 tokens: a window holds 32 blocks more.
        let chunked = CacheAccounting(model: model, stepTokens: 512)
        #expect(chunked.kvBytes(tokens: 131_072) == 10 * 8192 * 131_072 + 52 * 8192 * 1552)
    }

    @Test func gemma3GGUFReadsTheSameLayout() throws {
        let path = try #require(cachedModelPath(gemmaModelFile), "run `skiff pull gemma-3-270m` first")
        let model = try ModelShape(ggufPath: path)
        // 18 layers: every 6th global (3), 15 with a 512-token window; 1 KV head of 256.
        #expect(model.fullAttentionLayers == 3)
        #expect(model.attentionWindows.compactMap { $0 } == Array(repeating: 512, count: 15))
        let cache = CacheAccounting(model: model)
        #expect(cache.bytesPerToken == 18 * 1024)
        #expect(cache.kvBytes(tokens: 32768) == 3 * 1024 * 32768 + 15 * 1024 * 528)
    }

    @Test func mamba2StateDoesNotGrowWithContext() throws {
        let model = try fixtureModel("mamba-codestral-7b")
        let cache = CacheAccounting(model: model)
        #expect(cache.bytesPerToken == 0)
        // Per layer: SSM state 8192 × 128 plus conv state 3 × (8192 + 2 × 8 × 128); 64 layers of 16-bit values.
        #expect(cache.stateBytesPerSequence == 64 * 2 * (8192 * 128 + 3 * 10240))
        #expect(cache.bytesPerSequence(tokens: 1000) == cache.bytesPerSequence(tokens: 256_000))
        #expect(model.parameterCount == 7_285_403_648)
    }

    /// A Llamba config.json that leaves the mixer to the published defaults (32 heads, 32 groups, state 64,
    /// expand 1, 4 taps with a bias, z bias) and carries no model_type, as Cartesia's files may not.
    @Test func llambaConfigWithThePublishedDefaults() throws {
        let json = Data(#"{"d_model": 2048, "n_layer": 16, "vocab_size": 128256, "tie_embeddings": true, "mlp_cfg": {"intermediate_size": 8192}, "ssm_cfg": {"d_state": 64}}"#.utf8)
        let model = try ModelShape(huggingFaceConfig: json, name: "config.json")
        #expect(model.architecture == "llamba")
        let s = try #require(model.stateSpace)
        #expect(s == StateSpaceShape(layers: 16, innerSize: 2048, stateSize: 64, groupCount: 32, headCount: 32, convKernel: 4))
        // Per block: in_proj to xBC (2048 + 2 × 32 × 64), z and 32 A_log; taps and bias; z bias; D; out_proj;
        // the MLP; two norms. Then the tied embedding and the final norm.
        let channels = 2048 + 2 * 32 * 64
        let block = 2048 * (channels + 2048 + 32) + channels * 5 + 2048 + 32 + 2048 * 2048 + 3 * 2048 * 8192 + 2 * 2048
        #expect(model.parameterCount == 128_256 * 2048 + 2048 + 16 * block)
        #expect(CacheAccounting(model: model).stateBytesPerSequence == 16 * 2 * (3 * channels + 2048 * 64))
        let bad = try #require(throws: SizingError.self) {
            try ModelShape(huggingFaceConfig: Data(#"{"model_type": "llamba", "d_model": 64, "vocab_size": 10, "ssm_cfg": {"n_v_heads": 5}}"#.utf8), name: "config.json")
        }
        #expect(bad.message.contains("n_v_heads (5) must divide expand × d_model (64)"))
    }

    @Test func mixtureOfExpertsKeepsAllExpertsResident() throws {
        let model = try fixtureModel("mixtral-8x7b")
        #expect(model.parameterCount == 46_702_792_704)
        #expect(model.activeParameterCount == 12_879_925_248)
        #expect(try model.weightsBytes(precision: .bf16) == 2 * 46_702_792_704)
        #expect(CacheAccounting(model: model).bytesPerToken == 128 * 1024)
    }

    @Test func missingConfigFieldsAreNamed() throws {
        let json = Data(#"{"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32}"#.utf8)
        let error = try #require(throws: SizingError.self) { try ModelShape(huggingFaceConfig: json, name: "config.json") }
        #expect(error.message.contains("num_hidden_layers, vocab_size, max_position_embeddings, intermediate_size"))
        let unknown = try #require(throws: SizingError.self) {
            try ModelShape(huggingFaceConfig: Data(#"{"model_type": "bert"}"#.utf8), name: "config.json")
        }
        #expect(unknown.message.contains("'bert'"))
    }

    @Test func defaultModelWeightsAreTheStoredTensorBytes() throws {
        let path = try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first")
        let model = try ModelShape(ggufPath: path)
        #expect(try model.weightsBytes(precision: nil) == 96_576_768)
        #expect(model.storedWeightsTypes == "Q4_1 ×210, F32 ×61, Q8_0 ×1")
        #expect(CacheAccounting(model: model).bytesPerToken == 2 * 30 * 3 * 64 * 2)
        let error = try #require(throws: SizingError.self) { try fixtureModel("llama-3.1-8b").weightsBytes(precision: nil) }
        #expect(error.message.contains("--precision"))
    }

    @Test func memoryPlanShowsItsTerms() throws {
        let model = try fixtureModel("llama-3.1-8b")
        let cache = CacheAccounting(model: model)
        let plan = MemoryPlan(deviceMemoryBytes: 80 << 30, memoryUtilization: 0.9, weightsBytes: 16_060_522_496,
                              overheadBytes: 2 << 30, safetyMarginBytes: 1 << 30, contextLength: 8192, meanRequestTokens: 1024,
                              cache: cache, kvHeadCount: 8)
        let usable = Int(Double(80 << 30) * 0.9)
        #expect(plan.cacheBudgetBytes == usable - 16_060_522_496 - (2 << 30) - (1 << 30))
        #expect(plan.bytesPerRequestAtContext == 1 << 30)
        #expect(plan.maxConcurrency == plan.cacheBudgetBytes / (1 << 30))
        #expect(plan.maxConcurrencyAtMean == plan.cacheBudgetBytes / (1024 * 128 * 1024))
        // Over 2 GPUs each holds half the weights and 4 of the 8 KV heads.
        var split = plan
        split.tensorParallel = 2
        #expect(split.weightsBytesPerDevice == 16_060_522_496 / 2)
        #expect(split.bytesPerRequestAtContext == 1 << 29)
        // With one KV head, 4 GPUs each keep a full copy of it.
        let oneKVHead = ModelShape(name: "x", architecture: "llama", contextLength: 512, hiddenSize: 64, layerCount: 1,
                                   headCount: 4, kvHeadCount: 1, keyLength: 16, valueLength: 16, attentionWindows: [nil],
                                   stateSpace: nil, experts: nil, parameterCount: 1, activeParameterCount: 1)
        let one = MemoryPlan(deviceMemoryBytes: 80 << 30, memoryUtilization: 0.9, weightsBytes: 0, overheadBytes: 0,
                             safetyMarginBytes: 0, tensorParallel: 4, contextLength: 512,
                             cache: CacheAccounting(model: oneKVHead),
                             kvHeadCount: 1)
        #expect(one.bytesPerRequestAtContext == 512 * 2 * 16 * 2)
    }
}

import SkiffEngine
import SkiffModelFile
import SkiffModels
import SkiffHyperparameters
import SkiffSizing
import Testing

/// `skiff serve` sizes its KV cache with `KVCachePlan`, from the same accounting as `skiff plan`.
@Suite struct ServeAgreementTests {
    /// The loaded model and sizing read one description of the cache.
    @Test func theEngineAndSizingSeeOneCacheLayout() throws {
        let path = try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first")
        let layout = try LoadedModel(path: path).cacheLayout
        #expect(layout == (try ModelShape(ggufPath: path).cacheLayout))
        #expect(layout.layers.count == 30)
        #expect(layout.layers.first == .attention(kvHeads: 3, keyLength: 64, valueLength: 64, window: nil))
    }

    @Test func serveBlocksFollowTheBudget() throws {
        let path = try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first")
        // SmolLM2-135M: 30 layers, 3 KV heads of 64 → 23040 bytes per token.
        let plan = try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement, contextLength: 8192, maxRunning: 4, stepTokens: 512, explicitBytes: nil,
                                   memoryFraction: 0.5, availableMemoryBytes: 1 << 40)
        #expect(plan.bytesPerToken == 23040)
        #expect(plan.blocks == 4 * 512)
        #expect(plan.fullContextSequences == 4)
        #expect(plan.basis == .fullConcurrency)
        let capped = try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement, contextLength: 8192, maxRunning: 64, stepTokens: 512, explicitBytes: nil,
                                     memoryFraction: 0.5, availableMemoryBytes: 2 << 30)
        #expect(capped.basis == .memoryShare)
        #expect(capped.bytes <= 1 << 30)
        #expect(throws: SizingError.self) {
            try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement, contextLength: 8192, maxRunning: 1, stepTokens: 512, explicitBytes: 1 << 20,
                            memoryFraction: 0.5, availableMemoryBytes: nil)
        }
    }

    @Test(arguments: [(1 << 30, 8192), (3_000_000_000, 8192), (700_000_000, 2000)])
    func planConcurrencyEqualsServeForTheSameBudget(budget: Int, context: Int) throws {
        let path = try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first")
        let serve = try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement, contextLength: context, maxRunning: 16, stepTokens: 512, explicitBytes: budget,
                                    memoryFraction: 0.5, availableMemoryBytes: nil)
        let model = try ModelShape(ggufPath: path)
        let weights = try model.weightsBytes(precision: nil)
        let memory = MemoryPlan(deviceMemoryBytes: budget + weights, memoryUtilization: 1, weightsBytes: weights, overheadBytes: 0,
                                safetyMarginBytes: 0, contextLength: context,
                                cache: CacheAccounting(model: model), kvHeadCount: model.kvHeadCount)
        #expect(memory.cacheBudgetBytes == budget)
        #expect(memory.cache.bytesPerToken == serve.bytesPerToken)
        #expect(memory.maxConcurrency == serve.fullContextSequences)
    }
}

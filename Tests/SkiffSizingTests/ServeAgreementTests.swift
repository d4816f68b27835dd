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
        let plan = try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement,
                                   stateBytesPerElement: RecurrentStateStorage.bytesPerElement, contextLength: 8192, maxRunning: 4, stepTokens: 512, explicitBytes: nil,
                                   memoryFraction: 0.5, availableMemoryBytes: 1 << 40)
        #expect(plan.bytesPerToken == 23040)
        #expect(plan.blocks == 4 * 512)
        #expect(plan.fullContextSequences == 4)
        #expect(plan.basis == .fullConcurrency)
        let capped = try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement,
                                   stateBytesPerElement: RecurrentStateStorage.bytesPerElement, contextLength: 8192, maxRunning: 64, stepTokens: 512, explicitBytes: nil,
                                     memoryFraction: 0.5, availableMemoryBytes: 2 << 30)
        #expect(capped.basis == .memoryShare)
        #expect(capped.bytes <= 1 << 30)
        #expect(throws: SizingError.self) {
            try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement,
                                   stateBytesPerElement: RecurrentStateStorage.bytesPerElement, contextLength: 8192, maxRunning: 1, stepTokens: 512, explicitBytes: 1 << 20,
                            memoryFraction: 0.5, availableMemoryBytes: nil)
        }
    }

    @Test(arguments: [(1 << 30, 8192), (3_000_000_000, 8192), (700_000_000, 2000)])
    func planConcurrencyEqualsServeForTheSameBudget(budget: Int, context: Int) throws {
        let path = try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first")
        let serve = try KVCachePlan(layout: ModelShape(ggufPath: path).cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement,
                                   stateBytesPerElement: RecurrentStateStorage.bytesPerElement, contextLength: context, maxRunning: 16, stepTokens: 512, explicitBytes: budget,
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

    /// A Mamba-2 model: blocks of no bytes count tokens, and every running sequence has a state slot, taken
    /// from the memory share first.
    @Test func serveHoldsAStateSlotPerRunningSequence() throws {
        let layer = CacheLayout.Layer.mamba2(innerSize: 128, stateSize: 16, groupCount: 2, convKernel: 4)
        let layout = CacheLayout(layers: Array(repeating: layer, count: 3))
        func plan(share: Int) throws(SizingError) -> KVCachePlan {
            try KVCachePlan(layout: layout, bytesPerElement: KVCacheStorage.bytesPerElement,
                            stateBytesPerElement: RecurrentStateStorage.bytesPerElement, contextLength: 1024, maxRunning: 8,
                            stepTokens: 64, explicitBytes: nil, memoryFraction: 1, availableMemoryBytes: share)
        }
        let p = try plan(share: 1 << 30)
        // Per layer 3 × 192 convolution inputs and 128 × 16 of scan state, as floats.
        #expect(p.stateBytesPerSequence == 3 * (3 * 192 + 128 * 16) * 4)
        #expect(p.stateSlots == 8 && p.stateBytes == 8 * p.stateBytesPerSequence)
        #expect(p.bytes == 0 && p.basis == .tokenCount)
        #expect(p.blocks == 8 * 64 && p.fullContextSequences == 8)
        #expect(p.summary.contains("recurrent state: \(p.stateBytesPerSequence) bytes per sequence × 8 slots"))
        let error = try #require(throws: SizingError.self) { try plan(share: p.stateBytes - 1) }
        #expect(error.message.contains("lower --max-running"))
    }
}

import SkiffHyperparameters
import SkiffScheduling

/// The engine limits of one replica (`skiff serve`'s flags): what a calibration replays, a validation simulates
/// and the planner's percentile sizing runs.
public struct ServeLimits: Sendable, Equatable {
    /// Tokens per engine step (`--max-step-tokens`).
    public var maxStepTokens: Int
    /// Sequences running at once (`--max-running`).
    public var maxRunning: Int
    /// Requests allowed to wait (`--max-waiting`).
    public var maxWaiting: Int
    /// Tokens per sequence at most (`--ctx`).
    public var contextLength: Int
    /// KV blocks, as `skiff serve` logs them.
    public var cacheBlocks: Int
    /// Tokens per KV block.
    public var blockSize: Int
    /// The model's block groups (`CacheAccounting.blockGroups`), which every block id belongs to one of.
    public var blockGroups: [CacheLayout.BlockGroup]

    /// Creates limits.
    public init(maxStepTokens: Int, maxRunning: Int, maxWaiting: Int, contextLength: Int, cacheBlocks: Int, blockSize: Int = 16,
                blockGroups: [CacheLayout.BlockGroup] = KVBlockPool.fullAttention) {
        self.maxStepTokens = maxStepTokens
        self.maxRunning = maxRunning
        self.maxWaiting = maxWaiting
        self.contextLength = contextLength
        self.cacheBlocks = cacheBlocks
        self.blockSize = blockSize
        self.blockGroups = blockGroups
    }

    /// A fleet of one replica with these limits and `stepTime`, not autoscaled.
    public func fleet(stepTime: StepTimeModel) -> FleetConfiguration {
        var c = FleetConfiguration(maxStepTokens: maxStepTokens, maxRunning: maxRunning, maxWaiting: maxWaiting,
                                   contextLength: contextLength, cacheBlocks: cacheBlocks, stepTime: stepTime)
        c.blockSize = blockSize
        c.blockGroups = blockGroups
        c.nodeStartSeconds = 0
        c.autoscaler.minReplicas = 1
        c.autoscaler.maxReplicas = 1
        return c
    }
}

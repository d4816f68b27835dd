/// How one device's memory divides between the model and its requests, and how many requests fit.
///
/// The operators' rule: the cache budget is the usable memory (`memoryUtilization` of the device, like
/// vLLM's `gpu_memory_utilization`) less this device's share of the weights, the runtime's overhead and a
/// safety margin; max concurrency is floor(cache budget ÷ memory per request). With tensor parallelism
/// each GPU holds 1/tp of the weights and of the KV heads (heads are replicated when there are fewer KV
/// heads than GPUs); with pipeline stages each holds 1/pp of the layers.
public struct MemoryPlan: Sendable, Equatable {
    /// The device's memory.
    public var deviceMemoryBytes: Int
    /// The share of it the server may use.
    public var memoryUtilization: Double
    /// All the weights (every GPU of the replica together).
    public var weightsBytes: Int
    /// Activations, CUDA context and graphs, per device.
    public var overheadBytes: Int
    /// Kept free on top of everything else, per device.
    public var safetyMarginBytes: Int
    /// GPUs one layer's tensors are split over.
    public var tensorParallel: Int
    /// Consecutive groups of layers on different GPUs (usually nodes).
    public var pipelineStages: Int
    /// Tokens per request at full context.
    public var contextLength: Int
    /// Tokens of a mean request (prompt plus output), if known.
    public var meanRequestTokens: Int?
    /// The per-sequence accounting.
    public var cache: CacheAccounting
    /// Key/value heads per attention layer (to split them over tensor-parallel GPUs).
    public var kvHeadCount: Int

    /// Creates a plan; the figures below follow from these terms.
    public init(deviceMemoryBytes: Int, memoryUtilization: Double, weightsBytes: Int, overheadBytes: Int, safetyMarginBytes: Int,
                tensorParallel: Int = 1, pipelineStages: Int = 1, contextLength: Int, meanRequestTokens: Int? = nil,
                cache: CacheAccounting, kvHeadCount: Int) {
        self.deviceMemoryBytes = deviceMemoryBytes
        self.memoryUtilization = memoryUtilization
        self.weightsBytes = weightsBytes
        self.overheadBytes = overheadBytes
        self.safetyMarginBytes = safetyMarginBytes
        self.tensorParallel = tensorParallel
        self.pipelineStages = pipelineStages
        self.contextLength = contextLength
        self.meanRequestTokens = meanRequestTokens
        self.cache = cache
        self.kvHeadCount = kvHeadCount
    }

    /// GPUs one replica spans.
    public var gpusPerReplica: Int { tensorParallel * pipelineStages }
    /// The memory the server may use on one device.
    public var usableBytes: Int { Int(Double(deviceMemoryBytes) * memoryUtilization) }
    /// This device's share of the weights.
    public var weightsBytesPerDevice: Int { (weightsBytes + gpusPerReplica - 1) / gpusPerReplica }
    /// What is left after the weights and the overhead (may be negative: the model does not fit).
    public var freeAfterModelBytes: Int { usableBytes - weightsBytesPerDevice - overheadBytes }
    /// What the KV cache and recurrent state may take on this device.
    public var cacheBudgetBytes: Int { max(0, freeAfterModelBytes - safetyMarginBytes) }

    /// This device's share of the memory one request of `tokens` tokens holds.
    public func bytesPerRequest(tokens: Int) -> Int {
        let kv = cache.kvBytes(tokens: tokens)
        let headsHere = kvHeadCount > 0 ? (kvHeadCount + tensorParallel - 1) / tensorParallel : 0
        let kvHere = kvHeadCount > 0 ? ceilDivide(kv * headsHere, kvHeadCount * pipelineStages) : 0
        return kvHere + ceilDivide(cache.stateBytesPerSequence, gpusPerReplica)
    }

    /// This device's share of one full-context request.
    public var bytesPerRequestAtContext: Int { bytesPerRequest(tokens: contextLength) }
    /// Block ids the cache budget holds, each `cache.blockSize` tokens of one block group
    /// (`cache.blockGroups`): the budget over a full-context request's bytes per block, state included, so a
    /// Mamba layer's state is spread over the blocks of a request.
    public var cacheBlocks: Int {
        let blocksPerRequest = max(cache.blocksPerSequence(tokens: contextLength), 1)
        return cacheBudgetBytes / max(bytesPerRequestAtContext / blocksPerRequest, 1)
    }

    /// Requests at full context that fit at once: floor(cache budget ÷ memory per request).
    public var maxConcurrency: Int { concurrency(perRequest: bytesPerRequestAtContext) }

    /// Requests of the mean length that fit at once, if the mean is known.
    public var maxConcurrencyAtMean: Int? { meanRequestTokens.map { concurrency(perRequest: bytesPerRequest(tokens: $0)) } }

    private func concurrency(perRequest: Int) -> Int {
        guard freeAfterModelBytes > safetyMarginBytes else { return 0 }
        return perRequest > 0 ? cacheBudgetBytes / perRequest : Int(Int32.max)
    }
}

func ceilDivide(_ a: Int, _ b: Int) -> Int { b == 0 ? 0 : (a + b - 1) / b }

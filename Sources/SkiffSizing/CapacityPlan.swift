/// The answer of `skiff plan`: memory, concurrency, parallelism and, with a workload, replicas, nodes and cost.
///
/// Encoded with `JSONEncoder.KeyEncodingStrategy.convertToSnakeCase`, its field names are the stable
/// `--json` output documented in `docs/sizing.md`. Bytes are per GPU unless the name says otherwise.
public struct CapacityPlan: Sendable, Equatable, Codable {
    /// The model as sized.
    public struct Model: Sendable, Equatable, Codable {
        /// A display name.
        public var name: String
        /// The architecture.
        public var architecture: String
        /// All parameters.
        public var parameters: Int
        /// Parameters computed per token.
        public var activeParameters: Int
        /// Blocks.
        public var layers: Int
        /// Layers with full attention.
        public var fullAttentionLayers: Int
        /// Layers with a sliding window.
        public var slidingWindowLayers: Int
        /// Mamba-2 layers.
        public var stateSpaceLayers: Int
        /// Experts per layer (MoE).
        public var experts: Int?
        /// Experts per token (MoE).
        public var expertsPerToken: Int?
        /// Why Skiff's own engine cannot serve this model on this hardware (`ServingEngine.skiffRefusal(for:on:)`); nil
        /// when it can.
        public var skiffEngineRefusal: String?
    }

    /// The smallest MIG slice that holds the needed concurrency.
    public struct MIGSuggestion: Sendable, Equatable, Codable {
        /// The MIG profile.
        public var profile: String
        /// Its memory.
        public var memoryBytes: Int
        /// Full-context requests that fit (floor(cache budget ÷ memory per request)).
        public var maxConcurrency: Int
        /// Replicas one GPU holds.
        public var replicasPerGpu: Int
    }

    /// The fleet for the workload's peak.
    public struct Fleet: Sendable, Equatable, Codable {
        /// The peak traffic and objective.
        public var workload: Workload
        /// What one replica sustains.
        public var throughputPerReplica: ReplicaThroughput
        /// Replicas for the peak.
        public var replicas: Int
        /// The cheapest instance type for them.
        public var instanceType: String?
        /// GPUs per node of that type.
        public var gpusPerNode: Int?
        /// Replicas one node holds.
        public var replicasPerNode: Int
        /// Nodes for the peak.
        public var nodes: Int
        /// Nodes to keep up for growth during start-up.
        public var warmNodes: Int
        /// Replicas on them.
        public var warmReplicas: Int
        /// Seconds from asking for a node to a replica serving.
        public var secondsToReady: Double
        /// Seconds from scheduling a replica on a node already up (a warm node) to it serving: the pod start and the
        /// model load, without the node start.
        public var secondsToReadyOnWarmNode: Double
        /// The metric the plan recommends the autoscaler watch (running plus waiting requests per replica, with
        /// `autoscalerTargetRunningPerReplica`); a queue-depth autoscaler gets `autoscalerTargetWaitingPerReplica`.
        public var autoscalerMetric: String
        /// Target of waiting requests per replica.
        public var autoscalerTargetWaitingPerReplica: Int
        /// Target of running requests per replica (for a concurrency metric).
        public var autoscalerTargetRunningPerReplica: Int
        /// Monthly cost at peak size, on demand.
        public var onDemandUsdPerMonth: Double?
        /// Monthly cost at peak size, on spot.
        public var spotUsdPerMonth: Double?
        /// When the prices were taken.
        public var priceDate: String?
    }

    /// The model as sized.
    public var model: Model
    /// The hardware as named.
    public var hardware: String
    /// The GPU's catalog name (nil on cpu).
    public var gpu: String?
    /// The Kubernetes resource per GPU.
    public var gpuResourceName: String
    /// How the weights are stored.
    public var weightsPrecision: String
    /// The KV cache's number format.
    public var kvCachePrecision: String
    /// Tokens per request at most.
    public var contextLength: Int
    /// Device memory.
    public var memoryBytesPerGpu: Int
    /// The share the server uses.
    public var memoryUtilization: Double
    /// Memory × utilization.
    public var usableBytesPerGpu: Int
    /// All the weights of a replica.
    public var weightsBytes: Int
    /// This GPU's share of the weights.
    public var weightsBytesPerGpu: Int
    /// Activations, CUDA context and graphs.
    public var runtimeOverheadBytes: Int
    /// Usable memory less weights and overhead.
    public var freeAfterModelBytes: Int
    /// Kept free.
    public var safetyMarginBytes: Int
    /// What the KV cache and state may take.
    public var cacheBudgetBytes: Int
    /// Block ids of 16 tokens of one block group that budget holds (`MemoryPlan.cacheBlocks`): what a replica's
    /// block pool gets.
    public var cacheBlocks: Int
    /// KV bytes per token, all attention layers.
    public var kvCacheBytesPerToken: Int
    /// KV bytes per token beyond the sliding windows.
    public var kvCacheBytesPerTokenBeyondWindows: Int
    /// Recurrent state per sequence.
    public var stateBytesPerSequence: Int
    /// This GPU's share of one full-context request.
    public var bytesPerRequestAtContext: Int
    /// This GPU's share of one mean-length request.
    public var bytesPerRequestAtMean: Int?
    /// Full-context requests that fit (floor(cache budget ÷ memory per request)).
    public var maxConcurrency: Int
    /// Mean-length requests that fit.
    public var maxConcurrencyAtMean: Int?
    /// Tensor-parallel degree.
    public var tensorParallel: Int
    /// Pipeline stages.
    public var pipelineStages: Int
    /// GPUs per replica.
    public var gpusPerReplica: Int
    /// Replicas one GPU holds.
    public var replicasPerGpu: Int
    /// The smallest MIG slice that holds the needed concurrency.
    public var migSuggestion: MIGSuggestion?
    /// The fleet, with a workload.
    public var fleet: Fleet?
    /// Replicas for the peak.
    public var replicas: Int?
    /// Nodes for the peak.
    public var nodes: Int?
    /// What the user must know.
    public var warnings: [String]
    /// The engine that serves this plan (`ServingEngine.choose`, or as asked): Skiff's engine where it serves the
    /// model, else vLLM on GPUs; nil on `cpu` for a model it does not run (then `model.skiffEngineRefusal` says why).
    public var engine: ServingEngine?
}

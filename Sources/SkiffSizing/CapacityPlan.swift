/// The answer of `skiff plan`: memory, concurrency, parallelism and, with a workload, replicas, nodes and cost.
///
/// Encoded with `JSONEncoder.KeyEncodingStrategy.convertToSnakeCase`, its field names are the stable
/// `--json` output documented in `docs/sizing.md`. Bytes are per GPU unless the name says otherwise.
public struct CapacityPlan: Sendable, Equatable, Codable {
    /// The model as sized.
    public struct Model: Sendable, Equatable, Codable {
        public var name: String
        public var architecture: String
        public var parameters: Int
        public var activeParameters: Int
        public var layers: Int
        public var fullAttentionLayers: Int
        public var slidingWindowLayers: Int
        public var stateSpaceLayers: Int
        public var experts: Int?
        public var expertsPerToken: Int?
    }

    /// The smallest MIG slice that holds the needed concurrency.
    public struct MIGSuggestion: Sendable, Equatable, Codable {
        public var profile: String
        public var memoryBytes: Int
        public var maxConcurrency: Int
        public var replicasPerGpu: Int
    }

    /// The fleet for the workload's peak.
    public struct Fleet: Sendable, Equatable, Codable {
        public var workload: Workload
        public var throughputPerReplica: ReplicaThroughput
        public var replicas: Int
        public var instanceType: String?
        public var gpusPerNode: Int?
        public var replicasPerNode: Int
        public var nodes: Int
        public var warmNodes: Int
        public var warmReplicas: Int
        public var secondsToReady: Double
        public var autoscalerMetric: String
        public var autoscalerTargetWaitingPerReplica: Int
        public var autoscalerTargetRunningPerReplica: Int
        public var onDemandUsdPerMonth: Double?
        public var spotUsdPerMonth: Double?
        public var priceDate: String?
    }

    public var model: Model
    public var hardware: String
    public var gpu: String?
    public var gpuResourceName: String
    public var weightsPrecision: String
    public var kvCachePrecision: String
    public var contextLength: Int
    public var memoryBytesPerGpu: Int
    public var memoryUtilization: Double
    public var usableBytesPerGpu: Int
    public var weightsBytes: Int
    public var weightsBytesPerGpu: Int
    public var runtimeOverheadBytes: Int
    public var freeAfterModelBytes: Int
    public var safetyMarginBytes: Int
    public var cacheBudgetBytes: Int
    public var kvCacheBytesPerToken: Int
    public var kvCacheBytesPerTokenBeyondWindows: Int
    public var slidingWindowsBounded: Bool
    public var stateBytesPerSequence: Int
    public var bytesPerRequestAtContext: Int
    public var bytesPerRequestAtMean: Int?
    public var maxConcurrency: Int
    public var maxConcurrencyAtMean: Int?
    public var tensorParallel: Int
    public var pipelineStages: Int
    public var gpusPerReplica: Int
    public var replicasPerGpu: Int
    public var migSuggestion: MIGSuggestion?
    public var fleet: Fleet?
    public var replicas: Int?
    public var nodes: Int?
    public var warnings: [String]
}

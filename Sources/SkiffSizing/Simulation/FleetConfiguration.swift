import SkiffHyperparameters
import SkiffScheduling

/// Everything a fleet simulation depends on, besides the arrivals.
public struct FleetConfiguration: Sendable, Equatable {
    /// How the autoscaler decides the replica count.
    public struct Autoscaler: Sendable, Equatable {
        /// What the autoscaler divides by its target.
        public enum Metric: String, Sendable, Equatable, CaseIterable {
            /// `vllm:num_requests_waiting` (the vLLM production stack's KEDA trigger).
            case waiting
            /// `vllm:num_requests_running` plus waiting: concurrency per replica.
            case running
        }

        /// The metric.
        public var metric: Metric = .waiting
        /// The metric's target value per replica.
        public var target: Double = 5
        /// Fewest replicas; 0 lets the fleet scale to zero (KEDA).
        public var minReplicas: Int = 1
        /// Most replicas.
        public var maxReplicas: Int = 100
        /// Seconds between evaluations (HPA sync period 15 s; KEDA polling 30 s).
        public var periodSeconds: Double = 15
        /// Scale-up stabilization window: the lowest recommendation within it wins (HPA default 0 s).
        public var scaleUpWindowSeconds: Double = 0
        /// Scale-down stabilization window: the highest recommendation within it wins (HPA default 300 s).
        public var scaleDownWindowSeconds: Double = 300
        /// Seconds without any request before scaling to zero (KEDA's cooldownPeriod, default 300 s).
        public var scaleToZeroCooldownSeconds: Double = 300
        /// Relative deviation from the target that causes no change (HPA's tolerance, 0.1).
        public var tolerance: Double = 0.1

        /// Creates the HPA defaults.
        public init() {}
    }

    /// How the gateway picks a replica for a request.
    public enum Routing: String, Sendable, Equatable, CaseIterable {
        /// The ready replica with the fewest requests (an inference gateway, an endpoint picker).
        case leastLoaded = "least-loaded"
        /// Any ready replica, uniformly (a plain Kubernetes Service: kube-proxy picks a backend at random).
        case random
    }

    /// The engine of each replica.
    public var maxStepTokens: Int
    /// Sequences a replica runs at once.
    public var maxRunning: Int
    /// Requests a replica lets wait; more get 429.
    public var maxWaiting: Int
    /// Tokens per sequence at most.
    public var contextLength: Int
    /// Tokens per KV block.
    public var blockSize: Int = 16
    /// KV blocks per replica.
    public var cacheBlocks: Int
    /// The model's block groups (`CacheAccounting.blockGroups`), which every block id belongs to one of.
    public var blockGroups = KVBlockPool.fullAttention
    /// Step time of a replica.
    public var stepTime: StepTimeModel
    /// Replicas one node holds.
    public var replicasPerNode: Int = 1
    /// Seconds from asking for a node to it being schedulable.
    public var nodeStartSeconds: Double = 300
    /// Probability that a node launch fails (no capacity); the launch is retried.
    public var nodeLaunchFailureProbability: Double = 0
    /// Seconds until a failed launch is noticed and retried.
    public var nodeLaunchRetrySeconds: Double = 120
    /// Seconds an empty node lives before it is removed (cluster autoscaler's scale-down-unneeded-time).
    public var nodeIdleSeconds: Double = 600
    /// Nodes kept running even when empty (a warm pool).
    public var warmNodes: Int = 0
    /// Seconds from scheduling a pod to its process running (image pull included).
    public var podStartSeconds: Double = 60
    /// Seconds to load the model once the process runs (download and load, warm-up).
    public var modelLoadSeconds: Double = 60
    /// How requests are spread over the ready replicas.
    public var routing: Routing = .leastLoaded
    /// Seconds a request waits at the gateway for a replica when none is ready before it fails.
    public var gatewayTimeoutSeconds: Double = 600
    /// The autoscaler.
    public var autoscaler = Autoscaler()
    /// On-demand price per node-hour, US dollars.
    public var onDemandUsdPerHour: Double = 0
    /// Spot price per node-hour, US dollars.
    public var spotUsdPerHour: Double = 0
    /// Share of nodes bought as spot.
    public var spotShare: Double = 0
    /// GPUs per node, for GPU-hours.
    public var gpusPerNode: Int = 1
    /// The latency objective: time to first token, seconds.
    public var timeToFirstTokenObjectiveSeconds: Double = 2
    /// The latency objective: time per output token, seconds.
    public var timePerOutputTokenObjectiveSeconds: Double = 0.1
    /// Seconds per point of the time series.
    public var sampleSeconds: Double = 60

    /// Creates a configuration for replicas with these engine limits.
    public init(maxStepTokens: Int, maxRunning: Int, maxWaiting: Int, contextLength: Int, cacheBlocks: Int, stepTime: StepTimeModel) {
        self.maxStepTokens = maxStepTokens
        self.maxRunning = maxRunning
        self.maxWaiting = maxWaiting
        self.contextLength = contextLength
        self.cacheBlocks = cacheBlocks
        self.stepTime = stepTime
    }
}

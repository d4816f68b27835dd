import SkiffHyperparameters

/// How a runner is set up: its device and threads, its largest batch, its paged cache and its recurrent-state slots.
public struct RunnerOptions: Sendable, Equatable {
    /// Where the forward passes compute.
    public var device: ComputeDevice = .cpu
    /// Compute threads (the calling thread included) of the CPU backend.
    public var threads: Int
    /// The most tokens one forward pass accepts.
    public var maxBatchTokens: Int
    /// Blocks of the paged cache.
    public var cacheBlocks: Int
    /// Tokens per cache block.
    public var blockSize: Int
    /// Sequences whose recurrent state is held at once (for a model with recurrent layers).
    public var stateSlots: Int
    /// Whether the cache's memory is made resident at once rather than as blocks are first written.
    public var residentCache: Bool
    /// On a Vulkan device, the fewest tokens of one sequence in a step whose products take the tiled shader (fewer
    /// take the matrix-vector one); nil: the device's own choice (17 on a GPU, never on a software device).
    public var tiledProductFromTokens: Int?
    /// On a Vulkan device, whether the matrix-vector products of Q4_0, Q4_1 and Q8_0 weights use 8-bit integer dot
    /// products over activations quantized to int8, as the CPU kernels do; nil: where the device runs them in
    /// hardware. True on a device without them is refused.
    public var integerDotProducts: Bool?

    /// Creates options.
    public init(threads: Int, maxBatchTokens: Int, cacheBlocks: Int, blockSize: Int, stateSlots: Int, residentCache: Bool = false) {
        self.threads = threads
        self.maxBatchTokens = maxBatchTokens
        self.cacheBlocks = cacheBlocks
        self.blockSize = blockSize
        self.stateSlots = stateSlots
        self.residentCache = residentCache
    }
}

/// The operations an architecture's forward pass is written in, on one device's memory: activations of a
/// batch, norms, matrix products with the loaded weights, RoPE, the paged KV cache and attention, the
/// state-space layers' convolution and scan over their recurrent state, the output head. An architecture's
/// runner is generic over its backend (`CPUBackend`, `VulkanBackend`), so a backend plugs in under the
/// architectures without touching them.
///
/// A backend owns its scratch, cache and threads, and is driven by one thread at a time. Activations are
/// `maxBatchTokens` rows of a fixed width; every operation works on the rows of the current batch
/// (`begin`). A device backend may only record each operation and run the whole pass when `logits` asks
/// for its result. Weights arrive as `WeightMatrix` (the CPU's packed form, and the file's rows, which a
/// device backend copies to its memory once) and norms as floats.
protocol ComputeBackend: AnyObject {
    /// Rows of activations, one per token of a batch, in the device's memory.
    associatedtype Activations

    /// Sets up threads, scratch and a cache laid out as `layout` for `options`.
    init(options: RunnerOptions, layout: CacheLayout, widestActivation: Int) throws(ModelError)

    /// The most tokens one forward pass accepts.
    var maxBatchTokens: Int { get }

    /// Activations of `width` values per token.
    func activations(width: Int) throws(ModelError) -> Activations

    /// Checks `batch` (its size, token ids within `vocabularySize`, positions within its sequences' cache
    /// blocks, blocks within the cache) and makes it the batch the operations below work on.
    func begin(_ batch: ForwardBatch, vocabularySize: Int) throws(ModelError)

    /// x = the embedding of each token, times `scale`.
    func embed(_ embedding: TokenEmbedding, into x: Activations, scale: Float) throws(ModelError)

    /// out = x / rms(x) × weight, over each token's `groups` consecutive slices of `weight.count` values
    /// (one slice per token for a layer norm, one per head for a query or key norm). `out` may be `x`.
    func rmsNorm(_ x: Activations, weight: [Float], groups: Int, epsilon: Float, into out: Activations)

    /// out = input × wᵀ for each (w, out), in one parallel run over the same input.
    func matmuls(_ products: [(WeightMatrix, Activations)], input: Activations) throws(ModelError)

    /// out = input × wᵀ, or out += input × wᵀ with `accumulate` (a residual connection).
    func matmul(_ w: WeightMatrix, input: Activations, into out: Activations, accumulate: Bool) throws(ModelError)

    /// x += bias, in every row.
    func addBias(_ bias: [Float], to x: Activations)

    /// Rotates each token's `heads` heads of `headDimension` by RoPE at its position: the first
    /// `2 × inverseFrequencies.count` dimensions, paired (i, i + n/2) when `neox`, else (2i, 2i+1).
    func rope(_ x: Activations, heads: Int, headDimension: Int, inverseFrequencies: [Float], neox: Bool)

    /// Writes each token's keys and values into cache layer `layer` at its position.
    func storeKeysAndValues(layer: Int, keys: Activations, values: Activations)

    /// Causal attention of each token's `heads` query heads over its sequence's cached keys and values in
    /// layer `layer` (the last positions of its sliding window only, when the layout gives it one), scores
    /// scaled by `scale`.
    func attend(layer: Int, queries: Activations, heads: Int, headDimension: Int, scale: Float,
                into out: Activations) throws(ModelError)

    /// Causal depthwise convolution of each sequence's tokens over `channels` channels from column `column`
    /// of `x`, continuing the convolution state of its slot in layout layer `layer`, then the bias (if any)
    /// and, with `silu`, SiLU, in place. `weight` holds the taps tap-major (kernel × channels, the oldest
    /// input's tap first).
    func convolve(layer: Int, _ x: Activations, column: Int, channels: Int, weight: [Float], bias: [Float]?, silu: Bool) throws(ModelError)

    /// Copies the recurrent state of slot `source` (and the tokens it has seen) into slot `destination`.
    func copyState(from source: Int, to destination: Int) throws(ModelError)

    /// Mamba-2's selective scan of each sequence's tokens (`SelectiveScan` says which columns of `input` hold
    /// x, B, C and dt, and the heads), continuing the scan state of its slot in layout layer `layer`; y (heads
    /// × head dimension per token) goes to `y`.
    func scan(layer: Int, _ input: Activations, _ scan: SelectiveScan, into y: Activations) throws(ModelError)

    /// y = rmsnorm(y ⊙ silu(z)) ⊙ weight over each of `groups` equal parts of a row, z read from column
    /// `column` of `gate`.
    func gatedGroupNorm(_ y: Activations, gate: Activations, column: Int, weight: [Float], groups: Int, epsilon: Float)

    /// y = y ⊙ silu(z + bias), z read from column `column` of `gate` (bias nil: none).
    func gate(_ y: Activations, by gate: Activations, column: Int, bias: [Float]?)

    /// gate = silu(gate) ⊙ up.
    func swiglu(gate: Activations, up: Activations)

    /// gate = gelu(gate) ⊙ up, GELU in its tanh approximation.
    func geglu(gate: Activations, up: Activations)

    /// x += y.
    func add(_ y: Activations, into x: Activations)

    /// The logits of the batch's `logitIndices` rows of `x`: RMSNorm with `norm`, then the output head and
    /// its bias, if any.
    func logits(_ x: Activations, norm: [Float], epsilon: Float, output: WeightMatrix, bias: [Float]?) throws(ModelError) -> [Float]
}

/// One Mamba-2 layer's selective scan: where its inputs are in a row of the input projection, its heads,
/// and its per-head parameters.
struct SelectiveScan {
    /// Columns of x (heads × head dimension), B and C (groups × state size each) and dt (heads).
    var xColumn, bColumn, cColumn, dtColumn: Int
    /// SSM heads, each of `headDimension` channels.
    var heads, headDimension: Int
    /// Groups of heads sharing B and C.
    var groups: Int
    /// State dimension N.
    var stateSize: Int
    /// A (negative: the decay is exp(dt A)), D (the skip connection) and the bias added to dt, per head.
    var a, d, dtBias: [Float]
    /// Whether x enters the state scaled by dt (Mamba-2), or as it is (Llamba's discrete form).
    var inputScaledByDt = true
}

/// A runner whose forward pass is written in a backend's operations: its largest batch and its state copies
/// are the backend's.
protocol BackendRunner: ModelRunner {
    associatedtype Backend: ComputeBackend
    var backend: Backend { get }
}

extension BackendRunner {
    var maxBatchTokens: Int { backend.maxBatchTokens }

    func copyState(from source: Int, to destination: Int) throws(ModelError) {
        try backend.copyState(from: source, to: destination)
    }
}

import CSkiffKernels
import SkiffGGUF
import SkiffHyperparameters

/// Mamba-2 (Dao and Gu, "Transformers are SSMs", 2024) as llama.cpp's GGUF lays it out: every block is
/// RMSNorm → Mamba-2 mixer → residual, then a final RMSNorm and the output head.
///
/// The mixer projects the normed stream to z | xBC | dt in one matrix (`ssm_in`); a causal depthwise
/// convolution and SiLU over xBC (`ssm_conv1d`); the selective scan with a scalar decay per head
/// (A = `ssm_a`, already −exp(A_log); D = `ssm_d`; dt through softplus after `ssm_dt.bias`), B and C shared
/// by each group of heads; y gated by SiLU(z) and normed per group (`ssm_norm`); then `ssm_out`.
final class Mamba2: LanguageModel {
    struct Layer: Sendable {
        let norm: [Float]
        let input: WeightMatrix
        /// Convolution taps, tap-major (kernel × channels).
        let convolution: [Float]
        let convolutionBias: [Float]
        let scan: SelectiveScan
        let gatedNorm: [Float]
        let output: WeightMatrix
    }

    let contextLength: Int
    let vocabularySize: Int
    let cacheLayout: CacheLayout
    let weightBytes: Int
    /// x, its norm, the projection, y, and the head's input.
    static func activationBytesPerToken(_ h: ModelHyperparameters) throws(ModelError) -> Int {
        let c = try StateSpaceConfiguration(h)
        return 4 * (3 * h.embeddingLength + c.projectionWidth + c.mixer.innerSize)
    }
    let embeddingLength: Int
    let innerSize: Int
    /// Width of a row of the input projection: z, then xBC (the convolution's channels), then dt.
    let projectionWidth: Int
    let groupCount: Int
    let rmsEpsilon: Float
    let embedding: TokenEmbedding
    let layers: [Layer]
    let outputNorm: [Float]
    let output: WeightMatrix

    /// Loads the weights of `file`; `progress` gets (blocks done, blocks + 1).
    init(file: GGUFFile, hyperparameters h: ModelHyperparameters, packWeights: Bool, progress: (Int, Int) -> Void) throws(ModelError) {
        let c = try StateSpaceConfiguration(h)
        let s = c.mixer
        contextLength = h.contextLength
        vocabularySize = c.vocabularySize
        cacheLayout = CacheLayout(h)
        embeddingLength = h.embeddingLength
        innerSize = s.innerSize
        groupCount = s.groupCount
        rmsEpsilon = c.rmsEpsilon

        let d = h.embeddingLength, inner = s.innerSize, n = s.stateSize, heads = s.headCount
        let channels = c.convolutionChannels
        let projection = c.projectionWidth
        projectionWidth = projection
        let w = WeightLoader(file: file, packWeights: packWeights)
        var layers: [Layer] = []
        for i in 0 ..< h.blockCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                norm: try w.vector(p + "attn_norm.weight", d),
                input: try w.matrix(p + "ssm_in.weight", columns: d, rows: projection),
                convolution: try w.convolutionTaps(p + "ssm_conv1d.weight", kernel: s.convKernel, channels: channels),
                convolutionBias: try w.vector(p + "ssm_conv1d.bias", channels),
                scan: SelectiveScan(xColumn: inner, bColumn: 2 * inner, cColumn: 2 * inner + s.groupCount * n, dtColumn: inner + channels,
                                    heads: heads, headDimension: inner / heads, groups: s.groupCount, stateSize: n,
                                    a: try w.values(p + "ssm_a", [1, heads]), d: try w.values(p + "ssm_d", [1, heads]),
                                    dtBias: try w.vector(p + "ssm_dt.bias", heads)),
                gatedNorm: try w.values(p + "ssm_norm.weight", [inner / s.groupCount, s.groupCount]),
                output: try w.matrix(p + "ssm_out.weight", columns: inner, rows: d)))
            progress(i + 1, h.blockCount + 1)
        }
        self.layers = layers
        outputNorm = try w.vector("output_norm.weight", d)
        (embedding, output) = try w.embeddingAndOutput(width: d, vocabulary: c.vocabularySize)
        weightBytes = w.bytes
        progress(h.blockCount + 1, h.blockCount + 1)
    }

    func makeRunner(_ options: RunnerOptions) throws(ModelError) -> any ModelRunner {
        switch options.device {
        case .cpu: try Mamba2Runner<CPUBackend>(model: self, options: options)
        case .vulkan: try Mamba2Runner<VulkanBackend>(model: self, options: options)
        }
    }
}

/// A Mamba-2 model's forward pass over a batch, on `Backend`.
final class Mamba2Runner<Backend: ComputeBackend>: BackendRunner {
    let model: Mamba2
    let backend: Backend
    private let x, normed, projected, y: Backend.Activations

    init(model: Mamba2, options: RunnerOptions) throws(ModelError) {
        backend = try Backend(options: options, layout: model.cacheLayout,
                              widestActivation: max(model.embeddingLength, model.projectionWidth))
        self.model = model
        x = try backend.activations(width: model.embeddingLength)
        normed = try backend.activations(width: model.embeddingLength)
        projected = try backend.activations(width: model.projectionWidth)
        y = try backend.activations(width: model.innerSize)
    }

    func forward(_ batch: ForwardBatch) throws(ModelError) -> [Float] {
        let b = backend
        let epsilon = model.rmsEpsilon
        try b.begin(batch, vocabularySize: model.vocabularySize)
        try b.embed(model.embedding, into: x, scale: 1)
        for (l, layer) in model.layers.enumerated() {
            // x = x + W_out · gatednorm(scan(silu(conv(xBC))), z), with z | xBC | dt = W_in · norm(x).
            b.rmsNorm(x, weight: layer.norm, groups: 1, epsilon: epsilon, into: normed)
            try b.matmul(layer.input, input: normed, into: projected, accumulate: false)
            try b.convolve(layer: l, projected, column: model.innerSize, channels: layer.convolutionBias.count, weight: layer.convolution,
                           bias: layer.convolutionBias, silu: true)
            try b.scan(layer: l, projected, layer.scan, into: y)
            b.gatedGroupNorm(y, gate: projected, column: 0, weight: layer.gatedNorm, groups: model.groupCount, epsilon: epsilon)
            try b.matmul(layer.output, input: y, into: x, accumulate: true)
        }
        return try b.logits(x, norm: model.outputNorm, epsilon: epsilon, output: model.output, bias: nil)
    }
}

import CSkiffKernels
import SkiffGGUF
import SkiffHyperparameters

/// Llamba (Cartesia, 2025): a Llama distilled into Mamba-2-style mixers. Each block is RMSNorm → discrete
/// Mamba-2 mixer → residual → RMSNorm → Llama's SwiGLU MLP → residual; then a final RMSNorm and the head.
///
/// The mixer projects the normed stream to xBC | z | A_log (`ssm_in`, an optional bias); a causal depthwise
/// convolution over xBC (`ssm_conv1d`, its bias optional), followed by SiLU only when
/// `llamba.ssm.conv_activation` is `silu` (the published models use none); x in heads of `inner / heads`, B
/// and C one per group of heads (`ssm.group_count`, the published `n_qk_heads`); the scan with A fixed at −1
/// and dt = softplus(A_log), x entering the state undivided (the published code passes x / dt to a scan that
/// multiplies it by dt); y = C · state + D x (`ssm_d`); the output gated by SiLU(z + `ssm_z_bias`) and
/// projected (`ssm_out`, an optional bias). The blocks' norms use `llamba.attention.layer_norm_rms_epsilon`,
/// the final one `llamba.output_norm_epsilon`. docs/llamba-gguf.md lists every key and tensor.
final class Llamba: LanguageModel {
    struct Layer: Sendable {
        let mixerNorm: [Float]
        let input: WeightMatrix
        let inputBias: [Float]?
        /// Convolution taps, tap-major (kernel × channels).
        let convolution: [Float]
        let convolutionBias: [Float]?
        let scan: SelectiveScan
        let gateBias: [Float]?
        let output: WeightMatrix
        let outputBias: [Float]?
        let feedForwardNorm: [Float]
        let gate, up, down: WeightMatrix
    }

    let contextLength: Int
    let vocabularySize: Int
    let cacheLayout: CacheLayout
    let weightBytes: Int
    /// x, its norm, the projection, y, the MLP's gate and up, and the head's input.
    static func activationBytesPerToken(_ h: ModelHyperparameters) throws(ModelError) -> Int {
        let c = try StateSpaceConfiguration(h)
        return 4 * (3 * h.embeddingLength + c.projectionWidth + c.mixer.innerSize + 2 * (h.feedForwardLength ?? 0))
    }
    let embeddingLength: Int
    let innerSize: Int
    let feedForwardLength: Int
    /// Width of a row of the input projection: xBC (the convolution's channels), z, then A_log.
    let projectionWidth: Int
    let convolutionChannels: Int
    let convolutionSiLU: Bool
    let blockEpsilon: Float
    let outputEpsilon: Float
    let embedding: TokenEmbedding
    let layers: [Layer]
    let outputNorm: [Float]
    let output: WeightMatrix
    let outputBias: [Float]?

    /// Loads the weights of `file`; `progress` gets (blocks done, blocks + 1).
    init(file: GGUFFile, hyperparameters h: ModelHyperparameters, packWeights: Bool, progress: (Int, Int) -> Void) throws(ModelError) {
        let arch = h.architecture
        let c = try StateSpaceConfiguration(h)
        let s = c.mixer
        guard let feedForward = h.feedForwardLength else {
            throw ModelError(.invalidHyperparameter, "the model file lacks \(arch).feed_forward_length (a positive integer)")
        }
        let activationKey = "\(arch).ssm.conv_activation"
        let activation: String
        let outputEpsilon: Double?
        do {
            activation = try file.metadata.checkedString(activationKey) ?? "identity"
            outputEpsilon = try file.metadata.positiveNumber("\(arch).output_norm_epsilon")
        } catch {
            throw ModelError(error)
        }
        guard activation == "identity" || activation == "silu" else {
            throw ModelError(.invalidHyperparameter, GGUFError.invalidValue(key: activationKey, value: .string(activation), requirement: "identity or silu").message)
        }
        contextLength = h.contextLength
        vocabularySize = c.vocabularySize
        cacheLayout = CacheLayout(h)
        embeddingLength = h.embeddingLength
        innerSize = s.innerSize
        feedForwardLength = feedForward
        convolutionSiLU = activation == "silu"
        blockEpsilon = c.rmsEpsilon
        self.outputEpsilon = outputEpsilon.map(Float.init) ?? c.rmsEpsilon

        let d = h.embeddingLength, inner = s.innerSize, n = s.stateSize, heads = s.headCount
        let channels = c.convolutionChannels
        convolutionChannels = channels
        projectionWidth = c.projectionWidth
        let w = WeightLoader(file: file, packWeights: packWeights)
        var layers: [Layer] = []
        for i in 0 ..< h.blockCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                mixerNorm: try w.vector(p + "attn_norm.weight", d),
                input: try w.matrix(p + "ssm_in.weight", columns: d, rows: projectionWidth),
                inputBias: try w.optionalVector(p + "ssm_in.bias", projectionWidth),
                convolution: try w.convolutionTaps(p + "ssm_conv1d.weight", kernel: s.convKernel, channels: channels),
                convolutionBias: try w.optionalVector(p + "ssm_conv1d.bias", channels),
                scan: SelectiveScan(xColumn: 0, bColumn: inner, cColumn: inner + s.groupCount * n, dtColumn: channels + inner,
                                    heads: heads, headDimension: inner / heads, groups: s.groupCount, stateSize: n,
                                    a: Array(repeating: -1, count: heads), d: try w.vector(p + "ssm_d", heads),
                                    dtBias: Array(repeating: 0, count: heads), inputScaledByDt: false),
                gateBias: try w.optionalVector(p + "ssm_z_bias", inner),
                output: try w.matrix(p + "ssm_out.weight", columns: inner, rows: d),
                outputBias: try w.optionalVector(p + "ssm_out.bias", d),
                feedForwardNorm: try w.vector(p + "ffn_norm.weight", d),
                gate: try w.matrix(p + "ffn_gate.weight", columns: d, rows: feedForward),
                up: try w.matrix(p + "ffn_up.weight", columns: d, rows: feedForward),
                down: try w.matrix(p + "ffn_down.weight", columns: feedForward, rows: d)))
            progress(i + 1, h.blockCount + 1)
        }
        self.layers = layers
        outputNorm = try w.vector("output_norm.weight", d)
        (embedding, output) = try w.embeddingAndOutput(width: d, vocabulary: c.vocabularySize)
        outputBias = try w.optionalVector("output.bias", c.vocabularySize)
        weightBytes = w.bytes
        progress(h.blockCount + 1, h.blockCount + 1)
    }

    func makeRunner(_ options: RunnerOptions) throws(ModelError) -> any ModelRunner {
        switch options.device {
        case .cpu: try LlambaRunner<CPUBackend>(model: self, options: options)
        case .vulkan: try LlambaRunner<VulkanBackend>(model: self, options: options)
        }
    }
}

/// A Llamba model's forward pass over a batch, on `Backend`.
final class LlambaRunner<Backend: ComputeBackend>: BackendRunner {
    let model: Llamba
    let backend: Backend
    private let x, normed, projected, y, gate, up: Backend.Activations

    init(model: Llamba, options: RunnerOptions) throws(ModelError) {
        backend = try Backend(options: options, layout: model.cacheLayout,
                              widestActivation: max(model.embeddingLength, model.projectionWidth, model.feedForwardLength))
        self.model = model
        x = try backend.activations(width: model.embeddingLength)
        normed = try backend.activations(width: model.embeddingLength)
        projected = try backend.activations(width: model.projectionWidth)
        y = try backend.activations(width: model.innerSize)
        gate = try backend.activations(width: model.feedForwardLength)
        up = try backend.activations(width: model.feedForwardLength)
    }

    func forward(_ batch: ForwardBatch) throws(ModelError) -> [Float] {
        let b = backend
        let epsilon = model.blockEpsilon
        try b.begin(batch, vocabularySize: model.vocabularySize)
        try b.embed(model.embedding, into: x, scale: 1)
        for (l, layer) in model.layers.enumerated() {
            // Mixer: x = x + W_out · (scan(conv(xBC)) ⊙ silu(z + z_bias)), with xBC | z | A_log = W_in · norm(x).
            b.rmsNorm(x, weight: layer.mixerNorm, groups: 1, epsilon: epsilon, into: normed)
            try b.matmul(layer.input, input: normed, into: projected, accumulate: false)
            if let bias = layer.inputBias { b.addBias(bias, to: projected) }
            try b.convolve(layer: l, projected, column: 0, channels: model.convolutionChannels, weight: layer.convolution,
                           bias: layer.convolutionBias, silu: model.convolutionSiLU)
            try b.scan(layer: l, projected, layer.scan, into: y)
            b.gate(y, by: projected, column: model.convolutionChannels, bias: layer.gateBias)
            try b.matmul(layer.output, input: y, into: x, accumulate: true)
            if let bias = layer.outputBias { b.addBias(bias, to: x) }

            // MLP: x = x + W2 · (silu(W1 · norm(x)) ⊙ W3 · norm(x)).
            b.rmsNorm(x, weight: layer.feedForwardNorm, groups: 1, epsilon: epsilon, into: normed)
            try b.matmuls([(layer.gate, gate), (layer.up, up)], input: normed)
            b.swiglu(gate: gate, up: up)
            try b.matmul(layer.down, input: gate, into: x, accumulate: true)
        }
        return try b.logits(x, norm: model.outputNorm, epsilon: model.outputEpsilon, output: model.output, bias: model.outputBias)
    }
}

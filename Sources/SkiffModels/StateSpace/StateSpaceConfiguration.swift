import CSkiffKernels
import SkiffGGUF
import SkiffHyperparameters

/// The hyper-parameters of a model whose every block has a state-space mixer (`mamba2`, `llamba`), checked
/// for what Skiff's state-space kernels need: no attention, a vocabulary and an RMSNorm epsilon stated, heads
/// that split the inner width and split into the groups of B and C, a convolution the kernel can hold. Each
/// failure names the key and its value.
struct StateSpaceConfiguration: Sendable {
    /// The mixers' sizes, as the file states them.
    let mixer: ModelHyperparameters.StateSpace
    /// Rows of the token embedding.
    let vocabularySize: Int
    /// `attention.layer_norm_rms_epsilon`.
    let rmsEpsilon: Float

    init(_ h: ModelHyperparameters) throws(ModelError) {
        let arch = h.architecture
        func invalid(_ key: String, _ value: Int, _ requirement: String) -> ModelError {
            ModelError(.invalidHyperparameter, GGUFError.invalidValue(key: "\(arch).\(key)", value: .int64(Int64(value)), requirement: requirement).message)
        }
        guard let s = h.stateSpace, s.layers.count == h.blockCount, h.attention == nil else {
            throw ModelError(.invalidHyperparameter, "not every block of this \(arch) model has a state-space mixer (blk.N.ssm_in.weight); Skiff's \(arch) needs them in all \(h.blockCount)")
        }
        guard let vocabulary = h.vocabularySize else {
            throw ModelError(.invalidHyperparameter, "the model file does not say its vocabulary size (\(arch).vocab_size or token_embd.weight)")
        }
        guard let epsilon = h.rmsEpsilon else {
            throw ModelError(.invalidHyperparameter, "the model file lacks \(arch).attention.layer_norm_rms_epsilon (a positive number)")
        }
        guard s.innerSize % s.headCount == 0 else { throw invalid("ssm.time_step_rank", s.headCount, "a divisor of \(arch).ssm.inner_size (\(s.innerSize))") }
        guard s.headCount % s.groupCount == 0 else { throw invalid("ssm.group_count", s.groupCount, "a divisor of \(arch).ssm.time_step_rank (\(s.headCount))") }
        guard s.convKernel <= Int(SKIFF_SSM_MAX_CONV_KERNEL) else {
            throw invalid("ssm.conv_kernel", s.convKernel, "at most \(SKIFF_SSM_MAX_CONV_KERNEL)")
        }
        mixer = s
        vocabularySize = vocabulary
        rmsEpsilon = epsilon
    }

    /// Channels of the convolution: x, then B and C of every group.
    var convolutionChannels: Int { mixer.innerSize + 2 * mixer.groupCount * mixer.stateSize }
    /// Width of a row of the input projection: z (inner), the convolution's channels and one dt per head, in the
    /// order each architecture's file has them.
    var projectionWidth: Int { mixer.innerSize + convolutionChannels + mixer.headCount }
}

extension WeightLoader {
    /// A depthwise convolution's taps (`[kernel, channels]`, a row of taps per channel in the file), tap-major
    /// as the convolution kernel reads them: kernel × channels, the oldest input's tap first.
    func convolutionTaps(_ name: String, kernel: Int, channels: Int) throws(ModelError) -> [Float] {
        let taps = try values(name, [kernel, channels])
        return (0 ..< kernel * channels).map { taps[($0 % channels) * kernel + $0 / channels] }
    }
}

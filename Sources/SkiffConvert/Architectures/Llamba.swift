import SkiffGGUF
import SkiffHyperparameters

extension CheckpointLayout {
    /// Cartesia's Llamba as published (cartesia-ai/edge, `cartesia_pytorch/Llamba`: blocks of `DiscreteMamba2`
    /// and `LlamaMLP`) in Skiff's GGUF layout for it (docs/llamba-gguf.md).
    static func llamba(_ c: LlambaConfig, contextLength: Int?) -> CheckpointLayout {
        let d = c.embeddingLength, inner = c.innerSize, heads = c.headCount, channels = c.convolutionChannels
        var tensors: [Tensor] = []
        /// A PyTorch `[out, in]` weight, or a vector (one dimension): GGUF's dimensions are the reverse.
        func add(_ name: String, _ source: String, _ shape: [Int], _ role: Tensor.Role) {
            tensors.append(Tensor(name: name, source: source, sourceShape: shape, dimensions: shape.reversed(), role: role))
        }
        add("token_embd.weight", "backbone.embedding.weight", [c.vocabularyRows, d], c.tiedEmbeddings ? .head : .matrix)
        for i in 0 ..< c.blockCount {
            let p = "blk.\(i).", s = "backbone.layers.\(i)."
            add(p + "attn_norm.weight", s + "input_layernorm.weight", [d], .exact)
            add(p + "ssm_in.weight", s + "mixer.in_proj.weight", [c.projectionWidth, d], .matrix)
            if c.projectionBias { add(p + "ssm_in.bias", s + "mixer.in_proj.bias", [c.projectionWidth], .exact) }
            // Conv1d's [channels, 1, kernel] holds each channel's taps together: GGUF's [kernel, channels].
            tensors.append(Tensor(name: p + "ssm_conv1d.weight", source: s + "mixer.conv1d.weight", sourceShape: [channels, 1, c.convKernel],
                                  dimensions: [c.convKernel, channels], role: .exact))
            if c.convolutionBias { add(p + "ssm_conv1d.bias", s + "mixer.conv1d.bias", [channels], .exact) }
            if !c.projectionBias { add(p + "ssm_z_bias", s + "mixer.z_bias", [inner], .exact) }
            add(p + "ssm_d", s + "mixer.D", [heads], .exact)
            add(p + "ssm_out.weight", s + "mixer.out_proj.weight", [d, inner], .matrix)
            if c.projectionBias { add(p + "ssm_out.bias", s + "mixer.out_proj.bias", [d], .exact) }
            add(p + "ffn_norm.weight", s + "post_attention_layernorm.weight", [d], .exact)
            add(p + "ffn_gate.weight", s + "mlp.gate_proj.weight", [c.feedForwardLength, d], .matrix)
            add(p + "ffn_up.weight", s + "mlp.up_proj.weight", [c.feedForwardLength, d], .matrix)
            add(p + "ffn_down.weight", s + "mlp.down_proj.weight", [d, c.feedForwardLength], .matrix)
        }
        add("output_norm.weight", "backbone.final_layernorm.weight", [d], .exact)
        if !c.tiedEmbeddings { add("output.weight", "lm_head.weight", [c.vocabularyRows, d], .head) }
        if c.headBias && !c.tiedEmbeddings { add("output.bias", "lm_head.bias", [c.vocabularyRows], .exact) }

        let a = "llamba."
        let metadata: [(String, GGUFValue)] = [
            (a + "block_count", .uint32(UInt32(c.blockCount))),
            // The state does not bound the context; the published models were distilled from Llama 3.x.
            (a + "context_length", .uint32(UInt32(contextLength ?? c.contextLength ?? 131_072))),
            (a + "embedding_length", .uint32(UInt32(d))),
            (a + "feed_forward_length", .uint32(UInt32(c.feedForwardLength))),
            // The published blocks fix their two norms' epsilon at 1e-5; norm_epsilon is the final norm's.
            (a + "attention.layer_norm_rms_epsilon", .float32(1e-5)),
            (a + "output_norm_epsilon", .float32(Float(c.outputNormEpsilon))),
            (a + "ssm.inner_size", .uint32(UInt32(inner))),
            (a + "ssm.state_size", .uint32(UInt32(c.stateSize))),
            (a + "ssm.time_step_rank", .uint32(UInt32(heads))),
            (a + "ssm.group_count", .uint32(UInt32(c.groupCount))),
            (a + "ssm.conv_kernel", .uint32(UInt32(c.convKernel))),
            (a + "ssm.conv_activation", .string(c.convolutionActivation)),
        ]
        return CheckpointLayout(architecture: "llamba", metadata: metadata, tensors: tensors, vocabularyRows: c.vocabularyRows,
                                omitted: c.tiedEmbeddings ? ["lm_head.weight"] : [])
    }
}

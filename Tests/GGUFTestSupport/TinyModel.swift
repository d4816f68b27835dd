import CSkiffKernels
import Foundation
import SkiffGGUF

/// Small GGUF models of each architecture Skiff runs, with seeded random weights in several tensor types
/// (F32, F16, Q8_0), so the engine can be compared with llama.cpp on the very same file
/// (`Tests/SkiffEngineTests/Fixtures/tiny-architectures.json` holds llama.cpp's answers).
///
/// Every model: 3 blocks, width 64, 4 query heads and 2 KV heads of 16, feed-forward 96, a 320-token
/// SentencePiece-style vocabulary (3 specials, 256 bytes, 61 words), context 128 (mamba2: 1024). Per architecture:
/// `llama` (separate output head), `qwen2` (QKV biases), `qwen3` (QK-norm, tied head), `phi3` (fused QKV
/// and gate-up), `gemma3` (heads of 32, QK-norm, sandwich norms, an 8-token sliding window on two of every
/// three layers), `mamba2` (no attention: Mamba-2 mixers of inner width 128, 8 heads in 2 groups, state 16,
/// a 4-tap convolution; tied head). `llamba` (not among `architectures`: llama.cpp has no Llamba) is built
/// the same way: discrete Mamba-2 mixers of inner width 64, 8 heads in 2 groups of B and C, state 16, with a
/// convolution bias and a z bias, and Llama's MLP; a separate head.
public enum TinyModel {
    /// The architectures there is a tiny model of.
    public static let architectures = ["gemma3", "llama", "mamba2", "phi3", "qwen2", "qwen3"]

    static let width = 64
    static let heads = 4
    static let kvHeads = 2
    static let feedForward = 96
    static let blocks = 3
    static let vocabulary = 320

    /// The model of `architecture`, with weights drawn from `seed`; with `allF32`, every tensor stored as F32
    /// (the same values before rounding), for comparisons that quantization would blur.
    public static func build(architecture arch: String, seed: UInt64 = 7, allF32: Bool = false) -> GGUFBuilder {
        var random = SplitMix(state: seed &+ UInt64(arch.utf8.reduce(0) { $0 &* 31 &+ Int($1) }))
        let headSize = arch == "gemma3" ? 32 : 16
        let qWidth = heads * headSize
        let kvWidth = kvHeads * headSize
        var b = GGUFBuilder()
        b["general.architecture"] = .string(arch)
        b["general.name"] = .string("tiny random model")
        b["\(arch).block_count"] = .uint32(UInt32(blocks))
        // A state-space model's context is not bounded by a cache; its tests run past 128 tokens.
        b["\(arch).context_length"] = .uint32(arch == "mamba2" || arch == "llamba" ? 1024 : 128)
        b["\(arch).embedding_length"] = .uint32(UInt32(width))
        b["\(arch).feed_forward_length"] = .uint32(UInt32(feedForward))
        b["\(arch).attention.head_count"] = .uint32(UInt32(heads))
        b["\(arch).attention.head_count_kv"] = .uint32(UInt32(kvHeads))
        b["\(arch).attention.layer_norm_rms_epsilon"] = .float32(1e-6)
        b["\(arch).rope.freq_base"] = .float32(arch == "gemma3" ? 1_000_000 : 10000)
        if arch == "llamba" {
            b["\(arch).ssm.conv_kernel"] = .uint32(UInt32(Mamba.convKernel))
            b["\(arch).ssm.inner_size"] = .uint32(UInt32(width))
            b["\(arch).ssm.state_size"] = .uint32(UInt32(Mamba.state))
            b["\(arch).ssm.time_step_rank"] = .uint32(UInt32(Mamba.heads))
            b["\(arch).ssm.group_count"] = .uint32(UInt32(Mamba.groups))
            b["\(arch).ssm.conv_activation"] = .string("identity")
            b["\(arch).output_norm_epsilon"] = .float32(1e-5)
        }
        if arch == "mamba2" {
            b["\(arch).ssm.conv_kernel"] = .uint32(UInt32(Mamba.convKernel))
            b["\(arch).ssm.inner_size"] = .uint32(UInt32(Mamba.inner))
            b["\(arch).ssm.state_size"] = .uint32(UInt32(Mamba.state))
            b["\(arch).ssm.time_step_rank"] = .uint32(UInt32(Mamba.heads))
            b["\(arch).ssm.group_count"] = .uint32(UInt32(Mamba.groups))
        }
        if arch == "gemma3" {
            b["\(arch).attention.key_length"] = .uint32(UInt32(headSize))
            b["\(arch).attention.value_length"] = .uint32(UInt32(headSize))
            b["\(arch).attention.sliding_window"] = .uint32(8)
            b["\(arch).attention.sliding_window_pattern"] = .uint32(3)
        }
        var tokens = ["<unk>", "<s>", "</s>"] + (0 ..< 256).map { String(format: "<0x%02X>", $0) }
        tokens += (0 ..< vocabulary - tokens.count).map { "▁w\($0)" }
        b["tokenizer.ggml.model"] = .string("llama")
        b["tokenizer.ggml.tokens"] = .array(tokens.map { .string($0) })
        b["tokenizer.ggml.scores"] = .array(tokens.indices.map { .float32(-Float($0)) })
        b["tokenizer.ggml.token_type"] = .array(tokens.indices.map { .int32($0 < 3 ? 3 : $0 < 259 ? 6 : 1) })
        b["tokenizer.ggml.bos_token_id"] = .uint32(1)
        b["tokenizer.ggml.eos_token_id"] = .uint32(2)
        b["tokenizer.ggml.unknown_token_id"] = .uint32(0)
        b["tokenizer.ggml.add_bos_token"] = .bool(false)

        func add(_ name: String, _ dims: [Int], _ type: GGMLType, scale: Float = 0.15, offset: Float = 0) {
            let values = (0 ..< dims.reduce(1, *)).map { _ in offset + scale * random.uniform() }
            let stored = allF32 ? .f32 : type
            b.tensors.append(.init(name: name, dimensions: dims.map(UInt64.init), typeID: stored.rawValue, data: encode(values, stored)))
        }
        func norm(_ name: String, _ length: Int) { add(name, [length], .f32, scale: 0.2, offset: 1) }

        add("token_embd.weight", [width, vocabulary], .q8_0, scale: 0.25)
        norm("output_norm.weight", width)
        if arch == "llama" || arch == "qwen2" || arch == "phi3" || arch == "llamba" { add("output.weight", [width, vocabulary], .f16) }
        for i in 0 ..< blocks {
            let p = "blk.\(i)."
            norm(p + "attn_norm.weight", width)
            if arch == "llamba" {
                let channels = width + 2 * Mamba.groups * Mamba.state
                add(p + "ssm_in.weight", [width, channels + width + Mamba.heads], .q8_0, scale: 0.3)
                add(p + "ssm_conv1d.weight", [Mamba.convKernel, channels], .f32, scale: 0.5)
                add(p + "ssm_conv1d.bias", [channels], .f32, scale: 0.1)
                add(p + "ssm_z_bias", [width], .f32, scale: 0.5)
                add(p + "ssm_d", [Mamba.heads], .f32, scale: 1)
                add(p + "ssm_out.weight", [width, width], .f16)
                norm(p + "ffn_norm.weight", width)
                add(p + "ffn_gate.weight", [width, feedForward], .f16)
                add(p + "ffn_up.weight", [width, feedForward], .q8_0)
                add(p + "ffn_down.weight", [feedForward, width], .f32)
                continue
            }
            if arch == "mamba2" {
                let channels = Mamba.inner + 2 * Mamba.groups * Mamba.state
                add(p + "ssm_in.weight", [width, Mamba.inner + channels + Mamba.heads], .q8_0)
                add(p + "ssm_conv1d.weight", [Mamba.convKernel, channels], .f32, scale: 0.5)
                add(p + "ssm_conv1d.bias", [channels], .f32, scale: 0.1)
                // Decays exp(dt A) from about 0.5 to 0.999 a token, so some heads remember the prompt's start.
                add(p + "ssm_dt.bias", [Mamba.heads], .f32, scale: 2, offset: -2)
                add(p + "ssm_a", [1, Mamba.heads], .f32, scale: 0.55, offset: -0.6)
                add(p + "ssm_d", [1, Mamba.heads], .f32, scale: 1)
                add(p + "ssm_norm.weight", [Mamba.inner / Mamba.groups, Mamba.groups], .f32, scale: 0.2, offset: 1)
                add(p + "ssm_out.weight", [Mamba.inner, width], .f16)
                continue
            }
            if arch == "phi3" {
                add(p + "attn_qkv.weight", [width, qWidth + 2 * kvWidth], .q8_0)
            } else {
                add(p + "attn_q.weight", [width, qWidth], .q8_0)
                add(p + "attn_k.weight", [width, kvWidth], .f16)
                add(p + "attn_v.weight", [width, kvWidth], .f32)
            }
            if arch == "qwen2" {
                add(p + "attn_q.bias", [qWidth], .f32)
                add(p + "attn_k.bias", [kvWidth], .f32)
                add(p + "attn_v.bias", [kvWidth], .f32)
            }
            if arch == "qwen3" || arch == "gemma3" {
                norm(p + "attn_q_norm.weight", headSize)
                norm(p + "attn_k_norm.weight", headSize)
            }
            add(p + "attn_output.weight", [qWidth, width], .q8_0)
            norm(p + "ffn_norm.weight", width)
            if arch == "phi3" {
                add(p + "ffn_up.weight", [width, 2 * feedForward], .f16)
            } else {
                add(p + "ffn_gate.weight", [width, feedForward], .f16)
                add(p + "ffn_up.weight", [width, feedForward], .q8_0)
            }
            add(p + "ffn_down.weight", [feedForward, width], .f32)
            if arch == "gemma3" {
                norm(p + "post_attention_norm.weight", width)
                norm(p + "post_ffw_norm.weight", width)
            }
        }
        return b
    }

    /// The Mamba-2 model's mixer.
    enum Mamba {
        static let inner = 128
        static let heads = 8
        static let groups = 2
        static let state = 16
        static let convKernel = 4
    }

    /// `values` stored as `type` (F32, F16, or Q8_0 as ggml rounds it), by the converter's quantizer.
    static func encode(_ values: [Float], _ type: GGMLType) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count / type.blockSize * type.blockBytes)
        let pool = skiff_pool_create(1)
        defer { skiff_pool_destroy(pool) }
        let written = out.withUnsafeMutableBytes {
            skiff_quantize_rows(pool, skiff_type(type.rawValue), values, $0.baseAddress, 1, Int64(values.count))
        }
        precondition(written == 1, "TinyModel stores F32, F16 or Q8_0")
        return out
    }
}

/// A seeded generator of uniform numbers in -1 ..< 1 (SplitMix64).
struct SplitMix {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}

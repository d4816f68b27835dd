import SkiffGGUF

/// The engine that serves a plan in the Helm chart (`model.engine`), and the one place sizing states which
/// models Skiff's own engine runs.
///
/// Skiff's engine serves a model it runs on `cpu`, and on one whole or time-sliced GPU through Vulkan when the model
/// has no state-space layers (its Vulkan kernels are the transformer's); vLLM serves the rest on GPUs (MIG slices,
/// where NVIDIA's driver offers no Vulkan, and models Skiff's engine does not run there). Sizing links no engine
/// code, so the rule is restated here from what
/// the engine checks when it loads a file (`ModelArchitectures.all`, the kernels'
/// tensor types and the attention kernels' head sizes in `SkiffModels`); `SkiffSizingTests` keeps the
/// architectures equal to the engine's own list. The engine checks more at load time (RoPE scaling, the
/// tokenizer's pre-tokenizer) than a shape holds; this rule does not promise those.
public enum ServingEngine: String, Sendable, Codable, Equatable {
    /// Skiff's own engine (`skiff serve`), on CPUs or one GPU.
    case skiff
    /// vLLM's OpenAI-compatible server, on NVIDIA GPUs.
    case vllm

    /// Bytes of one value of a state-space layer's recurrent state: Skiff's engine keeps it in 32-bit floats
    /// (`RecurrentStateStorage`), vLLM in the model's 16-bit type unless told otherwise (`mamba_ssm_cache_dtype`).
    public var stateBytesPerElement: Int {
        switch self {
        case .skiff: 4
        case .vllm: 2
        }
    }

    /// Tokens one engine step computes by default: `skiff serve`'s 512, vLLM's 2048 (`max_num_batched_tokens`).
    public var defaultStepTokens: Int {
        switch self {
        case .skiff: 512
        case .vllm: 2048
        }
    }

    /// `general.architecture` values Skiff's engine implements.
    public static let skiffArchitectures: Set<String> = ["gemma3", "llama", "llamba", "mamba2", "phi3", "qwen2", "qwen3"]

    /// GGUF tensor types Skiff's kernels compute with.
    public static let skiffTensorTypes: Set<GGMLType> = [
        .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_NL, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_XS,
    ]

    /// Why Skiff's own engine cannot run `model`, in words a user can act on; nil when it can.
    ///
    /// It runs GGUF files only (a `config.json` describes weights it cannot load), of `skiffArchitectures`,
    /// whose tensors are all of `skiffTensorTypes`, with attention heads whose size is a multiple of 16 up to 512.
    public static func skiffRefusal(for model: ModelShape) -> String? {
        guard let types = model.storedTensorTypes else {
            return "\(model.name) is described by a config.json, not a GGUF file: Skiff's engine loads GGUF files only"
        }
        guard skiffArchitectures.contains(model.architecture) else {
            return "\(model.name) has architecture '\(model.architecture)'; Skiff's engine runs \(skiffArchitectures.sorted().joined(separator: ", "))"
        }
        let unsupported = types.subtracting(skiffTensorTypes)
        guard unsupported.isEmpty else {
            return "\(model.name) stores tensors as \(unsupported.map(\.description).sorted().joined(separator: ", ")); Skiff's kernels compute with "
                + skiffTensorTypes.map(\.description).sorted().joined(separator: ", ")
        }
        guard model.keyLength % 16 == 0, model.keyLength <= 512 else {
            return "\(model.name) has attention heads of \(model.keyLength); Skiff's attention kernels need a multiple of 16, at most 512"
        }
        return nil
    }

    /// Why Skiff's engine cannot serve `model` on `hardware`, in words a user can act on; nil when it can. On a GPU
    /// it also needs a model without state-space layers and a device with Vulkan (not a MIG slice).
    public static func skiffRefusal(for model: ModelShape, on hardware: HardwareTarget) -> String? {
        if let refusal = skiffRefusal(for: model) { return refusal }
        guard !hardware.isCPU else { return nil }
        if model.stateSpace != nil {
            return "\(model.name) has state-space (Mamba-2) layers, which Skiff's engine computes on CPUs only"
        }
        if case .mig = hardware.sharing {
            return "Skiff's engine computes on GPUs through Vulkan, which NVIDIA's driver does not offer on MIG slices"
        }
        return nil
    }

    /// The engine for `model` on `hardware`: Skiff's engine wherever it serves the model (`skiffRefusal(for:on:)`),
    /// else vLLM on a GPU, and nil on `cpu` (the chart runs vLLM on GPUs only).
    public static func choose(model: ModelShape, hardware: HardwareTarget) -> ServingEngine? {
        if skiffRefusal(for: model, on: hardware) == nil { return .skiff }
        return hardware.isCPU ? nil : .vllm
    }
}

import SkiffGGUF

extension ModelShape {
    /// Reads the shape of the model in a GGUF file: its metadata and tensor table, without touching the weights.
    public init(ggufPath path: String) throws(SizingError) {
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw SizingError(.model, "cannot read the model file \(path): \(error.message)")
        }
        try self.init(gguf: file)
    }

    /// Reads the shape of the model in `file`.
    ///
    /// Which blocks attend and which are Mamba-2 layers is read from the tensor names (`blk.N.attn_k.weight`,
    /// `blk.N.ssm_in.weight`), so hybrids are counted layer by layer. Gemma 2 and 3 use sliding windows on
    /// all but every 2nd and 6th layer, as llama.cpp lays them out.
    public init(gguf file: GGUFFile) throws(SizingError) {
        let m = file.metadata
        guard let arch = file.architecture else {
            throw SizingError(.model, "the model file \(file.file.path) has no general.architecture key")
        }
        var missing: [String] = []
        func required(_ key: String) -> Int {
            guard let v = m.int("\(arch).\(key)"), v > 0 else { missing.append("\(arch).\(key)"); return 0 }
            return v
        }
        let layers = required("block_count")
        let hidden = required("embedding_length")
        let context = required("context_length")
        guard missing.isEmpty else {
            throw SizingError(.model, "the model file \(file.file.path) lacks \(missing.joined(separator: ", "))")
        }

        let attentionLayers = (0 ..< layers).filter {
            file.tensor(named: "blk.\($0).attn_k.weight") != nil || file.tensor(named: "blk.\($0).attn_qkv.weight") != nil
        }
        let ssmLayers = (0 ..< layers).filter { file.tensor(named: "blk.\($0).ssm_in.weight") != nil }
        var heads = 0, kvHeads = 0, keyLength = 0, valueLength = 0
        if !attentionLayers.isEmpty {
            heads = required("attention.head_count")
            guard missing.isEmpty else {
                throw SizingError(.model, "the model file \(file.file.path) lacks \(missing.joined(separator: ", "))")
            }
            kvHeads = m.int("\(arch).attention.head_count_kv") ?? heads
            keyLength = m.int("\(arch).attention.key_length") ?? hidden / heads
            valueLength = m.int("\(arch).attention.value_length") ?? keyLength
        }
        let window = m.int("\(arch).attention.sliding_window")
        let pattern = m.int("\(arch).attention.sliding_window_pattern") ?? Self.slidingWindowPattern(architecture: arch)
        let windows: [Int?] = attentionLayers.map { layer in
            guard let window, let pattern, pattern > 1 else { return nil }
            return (layer + 1) % pattern == 0 ? nil : window
        }

        var stateSpace: StateSpaceShape?
        if !ssmLayers.isEmpty {
            let inner = required("ssm.inner_size")
            let state = required("ssm.state_size")
            let kernel = required("ssm.conv_kernel")
            let ssmHeads = required("ssm.time_step_rank")
            guard missing.isEmpty else {
                throw SizingError(.model, "the model file \(file.file.path) lacks \(missing.joined(separator: ", "))")
            }
            stateSpace = StateSpaceShape(layers: ssmLayers.count, innerSize: inner, stateSize: state,
                                         groupCount: m.int("\(arch).ssm.group_count") ?? 1, headCount: ssmHeads, convKernel: kernel)
        }

        var parameters = 0, expertParameters = 0, bytes = 0
        var typeCounts: [GGMLType: Int] = [:]
        for tensor in file.tensors {
            parameters += tensor.elementCount
            bytes += tensor.byteCount
            typeCounts[tensor.type, default: 0] += 1
            if tensor.name.hasSuffix("_exps.weight") { expertParameters += tensor.elementCount }
        }
        var experts: ExpertShape?
        var active = parameters
        if let count = m.int("\(arch).expert_count"), count > 1, expertParameters > 0 {
            let used = m.int("\(arch).expert_used_count") ?? 1
            experts = ExpertShape(count: count, activePerToken: used, parameterCount: expertParameters)
            active = parameters - expertParameters + expertParameters / count * used
        }
        let fileName = String(file.file.path.split(separator: "/").last ?? Substring(file.file.path))
        self.init(
            name: m.string("general.name") ?? fileName, architecture: arch, contextLength: context, hiddenSize: hidden,
            layerCount: layers, headCount: heads, kvHeadCount: kvHeads, keyLength: keyLength, valueLength: valueLength,
            attentionWindows: windows, stateSpace: stateSpace, experts: experts, parameterCount: parameters,
            activeParameterCount: active, storedWeightsBytes: bytes,
            storedWeightsTypes: typeCounts.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "),
            storedTensorTypes: Set(typeCounts.keys))
    }

    /// Every how many layers a full-attention layer comes, for architectures that interleave sliding windows.
    static func slidingWindowPattern(architecture: String) -> Int? {
        switch architecture {
        case "gemma2": 2
        case "gemma3", "gemma3_text": 6
        default: nil
        }
    }
}

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
        /// The count under `arch.key` if present, checked to be an integer from 1 to `limit` (a tensor
        /// dimension's limit unless said otherwise).
        func count(_ key: String, upTo limit: Int = Int(Int32.max)) throws(SizingError) -> Int? {
            do {
                return try m.int("\(arch).\(key)", in: 1 ... max(1, limit))
            } catch {
                throw SizingError(.model, "the model file \(file.file.path) cannot be sized: \(error.message)")
            }
        }
        func required(_ key: String, upTo limit: Int = Int(Int32.max)) throws(SizingError) -> Int {
            guard let v = try count(key, upTo: limit) else { missing.append("\(arch).\(key)"); return 0 }
            return v
        }
        func invalid(_ key: String, _ requirement: String) -> SizingError {
            let error = GGUFError.invalidValue(key: "\(arch).\(key)", value: m["\(arch).\(key)"] ?? .array([]), requirement: requirement)
            return SizingError(.model, "the model file \(file.file.path) cannot be sized: \(error.message)")
        }
        // Each block has its own tensors, so there are no more blocks than tensors.
        let layers = try required("block_count", upTo: file.tensors.count)
        let hidden = try required("embedding_length")
        let context = try required("context_length")
        guard missing.isEmpty else {
            throw SizingError(.model, "the model file \(file.file.path) lacks \(missing.joined(separator: ", "))")
        }

        let attentionLayers = (0 ..< layers).filter {
            file.tensor(named: "blk.\($0).attn_k.weight") != nil || file.tensor(named: "blk.\($0).attn_qkv.weight") != nil
        }
        let ssmLayers = (0 ..< layers).filter { file.tensor(named: "blk.\($0).ssm_in.weight") != nil }
        var heads = 0, kvHeads = 0, keyLength = 0, valueLength = 0
        if !attentionLayers.isEmpty {
            heads = try required("attention.head_count")
            guard missing.isEmpty else {
                throw SizingError(.model, "the model file \(file.file.path) lacks \(missing.joined(separator: ", "))")
            }
            kvHeads = try count("attention.head_count_kv", upTo: heads) ?? heads
            if let stated = try count("attention.key_length") {
                keyLength = stated
            } else {
                guard hidden % heads == 0 else {
                    throw invalid("embedding_length", "a multiple of \(arch).attention.head_count (\(heads)) when \(arch).attention.key_length is absent")
                }
                keyLength = hidden / heads
            }
            valueLength = try count("attention.value_length") ?? keyLength
            // Queries, keys and values are each one tensor's rows, so their widths are within a dimension's limit.
            for (width, key) in [(heads * keyLength, "attention.head_count"), (kvHeads * max(keyLength, valueLength), "attention.head_count_kv")]
            where width > Int(Int32.max) {
                throw invalid(key, "such that heads × head size is at most \(Int32.max)")
            }
            // One sequence's keys and values at full context in fp32 must be countable, with room to multiply
            // by the sequences a plan holds: at most 128 TiB (a 405B model's is about 128 GiB).
            guard let sequenceBytes = checkedProduct(4, kvHeads, keyLength + valueLength, attentionLayers.count, context),
                  sequenceBytes <= 1 << 47 else {
                throw invalid("context_length", "small enough that one sequence's KV cache is at most 128 TiB "
                              + "(\(attentionLayers.count) attention layers × \(kvHeads) KV heads × \(keyLength + valueLength) key and value widths)")
            }
        }
        let window = try count("attention.sliding_window")
        let patternKey = "\(arch).attention.sliding_window_pattern"
        // Every how many layers a full-attention layer comes, or (newer files) whether each layer has a window.
        var pattern = Self.slidingWindowPattern(architecture: arch)
        var slidingLayers: [Bool]?
        if let value = m[patternKey] {
            if let elements = value.array {
                let flags = elements.compactMap(\.bool)
                guard flags.count == elements.count, flags.count == layers else {
                    throw invalid("attention.sliding_window_pattern", "an integer from 1 to \(layers) or one boolean per block (\(layers))")
                }
                slidingLayers = flags
            } else {
                pattern = try count("attention.sliding_window_pattern", upTo: layers)
            }
        }
        let windows: [Int?] = attentionLayers.map { layer in
            guard let window else { return nil }
            if let slidingLayers { return slidingLayers[layer] ? window : nil }
            guard let pattern, pattern > 1 else { return nil }
            return (layer + 1) % pattern == 0 ? nil : window
        }

        var stateSpace: StateSpaceShape?
        if !ssmLayers.isEmpty {
            let inner = try required("ssm.inner_size")
            let state = try required("ssm.state_size")
            let kernel = try required("ssm.conv_kernel")
            let ssmHeads = try required("ssm.time_step_rank")
            guard missing.isEmpty else {
                throw SizingError(.model, "the model file \(file.file.path) lacks \(missing.joined(separator: ", "))")
            }
            let shape = StateSpaceShape(layers: ssmLayers.count, innerSize: inner, stateSize: state,
                                        groupCount: try count("ssm.group_count") ?? 1, headCount: ssmHeads, convKernel: kernel)
            // A sequence's state (elements per layer × layers × up to 4 bytes) must be countable.
            let convolutionWidth = checkedProduct(2, shape.groupCount, state).flatMap { checkedSum(inner, $0) }
            let elements = checkedSum(checkedProduct(inner, state), convolutionWidth.flatMap { checkedProduct(kernel - 1, $0) })
            guard elements.flatMap({ checkedProduct(4, $0, shape.layers) }) != nil else {
                throw invalid("ssm.state_size", "small enough for a sequence's state to be counted (inner size \(inner), \(shape.layers) layers)")
            }
            stateSpace = shape
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
        if let expertCount = try count("expert_count"), expertCount > 1, expertParameters > 0 {
            let used = try count("expert_used_count", upTo: expertCount) ?? 1
            experts = ExpertShape(count: expertCount, activePerToken: used, parameterCount: expertParameters)
            active = parameters - expertParameters + expertParameters / expertCount * used
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

/// `a + b`, or nil when either is nil or the sum overflows.
private func checkedSum(_ a: Int?, _ b: Int?) -> Int? {
    guard let a, let b else { return nil }
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? nil : sum
}

/// The product of `factors`, or nil when it overflows.
private func checkedProduct(_ factors: Int...) -> Int? {
    var product = 1
    for factor in factors {
        let (next, overflow) = product.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        product = next
    }
    return product
}

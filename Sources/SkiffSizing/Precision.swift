/// The number format weights are stored in on the serving hardware.
public enum WeightPrecision: String, Sendable, CaseIterable, Codable {
    /// 16-bit brain float.
    case bf16
    /// IEEE half.
    case fp16
    /// 8-bit float (E4M3), one scale per channel.
    case fp8
    /// 8-bit integer, one scale per channel.
    case int8
    /// 4-bit integer in groups of 128 with a 16-bit scale each (GPTQ/AWQ style).
    case int4

    /// Bytes one parameter takes, scales included.
    public var bytesPerParameter: Double {
        switch self {
        case .bf16, .fp16: 2
        case .fp8, .int8: 1
        case .int4: 0.5 + 2.0 / 128
        }
    }

    /// Whether matrix products run in 8-bit arithmetic (so the fp8/int8 peak applies).
    var computesIn8Bit: Bool { self == .fp8 || self == .int8 }
}

/// The number format of the KV cache (and of recurrent state).
public enum CachePrecision: String, Sendable, CaseIterable, Codable {
    /// IEEE half (the default, and what Skiff's engine stores).
    case fp16
    /// 16-bit brain float.
    case bf16
    /// 8-bit float.
    case fp8
    /// ggml Q8_0: blocks of 32 int8 values with one half scale (34 bytes per 32 values).
    case q8_0

    /// Bytes per element, block scales included.
    public var bytesPerElement: Double {
        switch self {
        case .fp16, .bf16: 2
        case .fp8: 1
        case .q8_0: 34.0 / 32
        }
    }

    /// Bytes that `elements` values take (rounded up to a whole byte).
    func bytes(_ elements: Int) -> Int {
        switch self {
        case .fp16, .bf16: elements * 2
        case .fp8: elements
        case .q8_0: (elements * 34 + 31) / 32
        }
    }
}

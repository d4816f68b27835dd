import CSkiffKernels

/// A deterministic generator so failures reproduce.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(state: UInt64) {
        self.state = state
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random GGUF row data of `type`, with scales of realistic size.
public func randomRows(_ type: skiff_type, rows: Int, columns: Int, using rng: inout SplitMix64) -> [UInt8] {
    var out: [UInt8] = []
    func half(_ f: Float) -> [UInt8] {
        var h: UInt16 = 0
        var v = f
        skiff_f32_to_f16(&v, &h, 1)
        return [UInt8(h & 0xFF), UInt8(h >> 8)]
    }
    for _ in 0 ..< rows {
        switch type {
        case SKIFF_TYPE_F32:
            for _ in 0 ..< columns {
                withUnsafeBytes(of: Float.random(in: -1 ... 1, using: &rng)) { out.append(contentsOf: $0) }
            }
        case SKIFF_TYPE_F16:
            for _ in 0 ..< columns { out += half(Float.random(in: -1 ... 1, using: &rng)) }
        case SKIFF_TYPE_BF16:
            for _ in 0 ..< columns {
                let bits = Float.random(in: -1 ... 1, using: &rng).bitPattern >> 16
                out += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
            }
        case SKIFF_TYPE_Q4_0:
            for _ in 0 ..< columns / 32 {
                out += half(Float.random(in: 0.001 ... 0.05, using: &rng))
                for _ in 0 ..< 16 { out.append(UInt8.random(in: 0 ... 255, using: &rng)) }
            }
        case SKIFF_TYPE_Q4_1:
            for _ in 0 ..< columns / 32 {
                out += half(Float.random(in: 0.001 ... 0.05, using: &rng))
                out += half(Float.random(in: -0.4 ... 0.0, using: &rng))
                for _ in 0 ..< 16 { out.append(UInt8.random(in: 0 ... 255, using: &rng)) }
            }
        case SKIFF_TYPE_Q8_0:
            for _ in 0 ..< columns / 32 {
                out += half(Float.random(in: 0.001 ... 0.01, using: &rng))
                for _ in 0 ..< 32 { out.append(UInt8.random(in: 0 ... 255, using: &rng)) }
            }
        default:
            // The sub-block types: random bytes, with finite half scales of a weight's size where the
            // type keeps them (a random half can be NaN or infinite).
            guard let halves = halfScaleOffsets[type.rawValue] else { preconditionFailure("unexpected type \(type.rawValue)") }
            let blockBytes = skiff_row_bytes(type, Int64(columns)) / (columns / (hasSuperBlocks(type) ? 256 : 32))
            for _ in 0 ..< skiff_row_bytes(type, Int64(columns)) / blockBytes {
                var block = (0 ..< blockBytes).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
                for offset in halves { block.replaceSubrange(offset ..< offset + 2, with: half(Float.random(in: -0.05 ... 0.05, using: &rng))) }
                out += block
            }
        }
    }
    return out
}

/// Where each sub-block type keeps its half-precision scales inside a block (by GGUF type id).
public let halfScaleOffsets: [UInt32: [Int]] = [
    SKIFF_TYPE_Q5_0.rawValue: [0], SKIFF_TYPE_Q5_1.rawValue: [0, 2], SKIFF_TYPE_IQ4_NL.rawValue: [0],
    SKIFF_TYPE_Q2_K.rawValue: [80, 82], SKIFF_TYPE_Q3_K.rawValue: [108], SKIFF_TYPE_Q4_K.rawValue: [0, 2],
    SKIFF_TYPE_Q5_K.rawValue: [0, 2], SKIFF_TYPE_Q6_K.rawValue: [208], SKIFF_TYPE_IQ4_XS.rawValue: [0],
]

/// Whether `type` comes in blocks of 256 (the K-quants and IQ4_XS), so rows are multiples of 256.
public func hasSuperBlocks(_ type: skiff_type) -> Bool {
    [SKIFF_TYPE_Q2_K, SKIFF_TYPE_Q3_K, SKIFF_TYPE_Q4_K, SKIFF_TYPE_Q5_K, SKIFF_TYPE_Q6_K, SKIFF_TYPE_IQ4_XS].contains(type)
}

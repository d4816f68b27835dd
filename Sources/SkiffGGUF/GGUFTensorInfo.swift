/// Where one tensor lives in a GGUF file and what it holds.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// Dimensions, fastest-varying first: a PyTorch `[out, in]` weight has `dimensions == [in, out]`.
    public let dimensions: [Int]
    /// Element type.
    public let type: GGMLType
    /// Byte offset of the data from the start of the file (already including the data section's start).
    public let fileOffset: Int
    /// Size of the data in bytes.
    public let byteCount: Int

    /// Total number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// Length of a row (the first dimension).
    public var rowLength: Int { dimensions.first ?? 1 }

    /// Number of rows (the product of the other dimensions).
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }
}

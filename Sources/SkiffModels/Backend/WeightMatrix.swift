import CSkiffKernels
import SkiffGGUF

/// A weight matrix repacked from its GGUF tensor into the kernels' tiled layout, and where its rows are in
/// the file in their GGUF layout (`source`), which a device backend copies to its memory.
///
/// The packed bytes live in memory this object owns and never changes after init, so it can be shared
/// across threads.
public final class WeightMatrix: @unchecked Sendable {
    /// The kernels' descriptor, at a stable address for as long as this object lives.
    let matrix: UnsafeMutablePointer<skiff_packed_matrix>
    private let storage: UnsafeMutableRawPointer
    /// The rows in the model file.
    let source: WeightSource

    /// Output features.
    public var rows: Int { Int(matrix.pointee.rows) }
    /// Input features.
    public var columns: Int { Int(matrix.pointee.columns) }
    /// Bytes of packed weights.
    public var byteCount: Int { matrix.pointee.byte_count }

    /// Packs `tensor` of `file`, or only its output rows `slice` (one part of a fused matrix). Its first
    /// dimension is the input size; the rest multiply to the output size.
    init(_ tensor: GGUFTensorInfo, rows slice: Range<Int>? = nil, in file: GGUFFile) throws(ModelError) {
        guard let type = kernelType(for: tensor.type) else {
            throw ModelError(.unsupportedTensor, "tensor '\(tensor.name)' is \(tensor.type); Skiff computes with \(supportedTypeNames)")
        }
        let slice = slice ?? 0 ..< tensor.rowCount
        let rows = Int64(slice.count)
        let columns = Int64(tensor.rowLength)
        let bytes = skiff_packed_bytes(type, rows, columns)
        guard bytes > 0 else {
            throw ModelError(.unsupportedTensor, "tensor '\(tensor.name)' has shape \(tensor.dimensions), which the \(tensor.type) kernels cannot use (rows must be a multiple of \(tensor.type.blockSize))")
        }
        storage = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        matrix = .allocate(capacity: 1)
        // Packed a few thousand rows at a time (whole tiles), each part's file pages released once it is
        // packed, so a large matrix (a tied embedding table) never holds its file copy and its packed copy
        // in memory at once.
        let rowBytes = skiff_row_bytes(type, columns)
        let tileBytes = skiff_packed_bytes(type, 16, columns)
        let rowsInFile = file.data(of: tensor).baseAddress! + slice.lowerBound * rowBytes
        var part = skiff_packed_matrix()
        var first = 0
        while first < slice.count {
            let count = min(Self.rowsPerPart, slice.count - first)
            guard skiff_pack_matrix(type, rowsInFile + first * rowBytes, Int64(count), columns, storage + first / 16 * tileBytes, &part) == 0 else {
                storage.deallocate()
                matrix.deallocate()
                throw ModelError(.unsupportedTensor, "tensor '\(tensor.name)' could not be packed")
            }
            let start = tensor.fileOffset + (slice.lowerBound + first) * rowBytes
            file.file.release(start ..< start + count * rowBytes)
            first += count
        }
        matrix.initialize(to: skiff_packed_matrix(format: part.format, rows: rows, columns: columns, data: storage, byte_count: bytes))
        source = WeightSource(file: file.file, offset: tensor.fileOffset + slice.lowerBound * rowBytes, rowBytes: rowBytes,
                              rows: slice.count, columns: Int(columns), type: tensor.type)
    }

    /// Rows packed at once: a multiple of the 16-row tile.
    static let rowsPerPart = 4096

    deinit {
        storage.deallocate()
        matrix.deallocate()
    }
}

/// Rows of a weight tensor where they are in a mapped model file, in their GGUF block layout.
struct WeightSource: @unchecked Sendable {
    let file: MappedFile
    /// The file offset of the first row.
    let offset: Int
    let rowBytes: Int
    let rows: Int
    let columns: Int
    let type: GGMLType

    /// The rows' bytes (read from the file again if their pages were released).
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: file.bytes[offset ..< offset + rows * rowBytes]) }
}

/// The storage types the kernels compute with, for messages.
let supportedTypeNames = GGMLType.allCases.filter { kernelType(for: $0) != nil }.map(\.description).joined(separator: ", ")

/// The kernels' name for a GGUF storage type, or nil when they cannot compute with it.
func kernelType(for type: GGMLType) -> skiff_type? {
    switch type {
    case .f32: SKIFF_TYPE_F32
    case .f16: SKIFF_TYPE_F16
    case .bf16: SKIFF_TYPE_BF16
    case .q4_0: SKIFF_TYPE_Q4_0
    case .q4_1: SKIFF_TYPE_Q4_1
    case .q8_0: SKIFF_TYPE_Q8_0
    case .q5_0: SKIFF_TYPE_Q5_0
    case .q5_1: SKIFF_TYPE_Q5_1
    case .iq4_NL: SKIFF_TYPE_IQ4_NL
    case .q2_K: SKIFF_TYPE_Q2_K
    case .q3_K: SKIFF_TYPE_Q3_K
    case .q4_K: SKIFF_TYPE_Q4_K
    case .q5_K: SKIFF_TYPE_Q5_K
    case .q6_K: SKIFF_TYPE_Q6_K
    case .iq4_XS: SKIFF_TYPE_IQ4_XS
    default: nil
    }
}

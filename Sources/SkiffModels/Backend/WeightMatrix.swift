import CSkiffKernels
import Foundation
import SkiffGGUF

/// A weight matrix: where its rows are in the model file in their GGUF layout (`source`), which a device backend
/// copies to its memory, and the same rows repacked into the CPU kernels' tiled layout (`matrix`).
///
/// The repacking is done at load for a model that computes on the CPU (`pack()`), and otherwise only if a CPU
/// kernel ever asks for it: a model on a GPU never holds a packed copy in host memory. The packed bytes, once
/// made, never change, so the matrix can be shared across threads.
public final class WeightMatrix: @unchecked Sendable {
    /// Output features.
    public let rows: Int
    /// Input features.
    public let columns: Int
    /// Bytes of packed weights (once packed).
    public let byteCount: Int
    /// The rows in the model file.
    let source: WeightSource
    private let type: skiff_type
    private let lock = NSLock()
    /// The kernels' descriptor and the bytes it points to, once packed.
    private var packed: (matrix: UnsafeMutablePointer<skiff_packed_matrix>, storage: UnsafeMutableRawPointer)?

    /// A matrix of `tensor` of `file`, or only its output rows `slice` (one part of a fused matrix). Its first
    /// dimension is the input size; the rest multiply to the output size. Nothing is packed yet.
    init(_ tensor: GGUFTensorInfo, rows slice: Range<Int>? = nil, in file: GGUFFile) throws(ModelError) {
        guard let type = kernelType(for: tensor.type) else {
            throw ModelError(.unsupportedTensor, "tensor '\(tensor.name)' is \(tensor.type); Skiff computes with \(supportedTypeNames)")
        }
        let slice = slice ?? 0 ..< tensor.rowCount
        let bytes = skiff_packed_bytes(type, Int64(slice.count), Int64(tensor.rowLength))
        guard bytes > 0 else {
            throw ModelError(.unsupportedTensor, "tensor '\(tensor.name)' has shape \(tensor.dimensions), which the \(tensor.type) kernels cannot use (rows must be a multiple of \(tensor.type.blockSize))")
        }
        self.type = type
        rows = slice.count
        columns = tensor.rowLength
        byteCount = bytes
        let rowBytes = skiff_row_bytes(type, Int64(tensor.rowLength))
        source = WeightSource(file: file.file, offset: tensor.fileOffset + slice.lowerBound * rowBytes, rowBytes: rowBytes,
                              rows: slice.count, columns: tensor.rowLength, type: tensor.type)
    }

    /// The kernels' descriptor, at a stable address for as long as this object lives: packed now if it is not yet.
    var matrix: UnsafeMutablePointer<skiff_packed_matrix> {
        lock.withLock {
            if let packed { return packed.matrix }
            let made = packRows()
            packed = made
            return made.matrix
        }
    }

    /// Packs the rows for the CPU kernels now (at load), rather than on first use.
    func pack() {
        _ = matrix
    }

    /// Rows packed at once: a multiple of the 16-row tile.
    static let rowsPerPart = 4096

    /// Packs a few thousand rows at a time (whole tiles), each part's file pages released once it is packed, so a
    /// large matrix (a tied embedding table) never holds its file copy and its packed copy in memory at once.
    private func packRows() -> (matrix: UnsafeMutablePointer<skiff_packed_matrix>, storage: UnsafeMutableRawPointer) {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
        let tileBytes = skiff_packed_bytes(type, 16, Int64(columns))
        var part = skiff_packed_matrix()
        var first = 0
        while first < rows {
            let count = min(Self.rowsPerPart, rows - first)
            let status = skiff_pack_matrix(type, source.file.bytes.baseAddress! + source.offset + first * source.rowBytes, Int64(count),
                                           Int64(columns), storage + first / 16 * tileBytes, &part)
            // The shape was checked at init (skiff_packed_bytes); packing cannot fail for it.
            precondition(status == 0, "a \(source.type) matrix of \(rows) × \(columns) could not be packed")
            let start = source.offset + first * source.rowBytes
            source.file.release(start ..< start + count * source.rowBytes)
            first += count
        }
        let matrix = UnsafeMutablePointer<skiff_packed_matrix>.allocate(capacity: 1)
        matrix.initialize(to: skiff_packed_matrix(format: part.format, rows: Int64(rows), columns: Int64(columns), data: storage, byte_count: byteCount))
        return (matrix, storage)
    }

    deinit {
        if let packed {
            packed.storage.deallocate()
            packed.matrix.deallocate()
        }
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

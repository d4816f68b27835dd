import CSkiffKernels
import SkiffGGUF

/// Reads an architecture's tensors from a GGUF file, checking each one's shape and type, and counts the
/// bytes the loaded weights hold in memory.
final class WeightLoader {
    let file: GGUFFile
    /// Whether matrices are packed for the CPU kernels as they are loaded (else on first CPU use: a model on a GPU).
    let packWeights: Bool
    /// Bytes of the matrices and vectors loaded so far.
    private(set) var bytes = 0

    init(file: GGUFFile, packWeights: Bool = true) {
        self.file = file
        self.packWeights = packWeights
    }

    /// Whether the file has a tensor named `name`.
    func has(_ name: String) -> Bool { file.tensor(named: name) != nil }

    /// The tensor `name`, which must have dimensions `shape` (input size first; trailing dimensions of 1 may be
    /// left out on either side, as ggml does).
    func tensor(_ name: String, _ shape: [Int]) throws(ModelError) -> GGUFTensorInfo {
        guard let t = file.tensor(named: name) else {
            throw ModelError(.missingTensor, "the model file has no tensor '\(name)'")
        }
        func trimmed(_ dimensions: [Int]) -> ArraySlice<Int> {
            dimensions[..<((dimensions.lastIndex { $0 != 1 } ?? -1) + 1)]
        }
        guard trimmed(t.dimensions) == trimmed(shape) else {
            throw ModelError(.unsupportedTensor, "tensor '\(name)' has shape \(t.dimensions), expected \(shape)")
        }
        return t
    }

    /// A vector of `length` values (a norm's weights), as floats.
    func vector(_ name: String, _ length: Int) throws(ModelError) -> [Float] {
        try values(name, [length])
    }

    /// The values of a small tensor of dimensions `shape` (a norm's or a convolution's weights), as floats in
    /// the file's order (the first dimension varying fastest).
    func values(_ name: String, _ shape: [Int]) throws(ModelError) -> [Float] {
        let t = try tensor(name, shape)
        guard let type = kernelType(for: t.type) else {
            throw ModelError(.unsupportedTensor, "tensor '\(name)' is \(t.type); expected F32, F16 or BF16")
        }
        let count = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        skiff_dequantize_row(type, file.data(of: t).baseAddress, &values, Int64(count))
        bytes += 4 * count
        return values
    }

    /// A `rows × columns` matrix (GGUF shape `[columns, rows]`), or only its rows `slice` (one part of a
    /// fused matrix), repacked for the kernels.
    func matrix(_ name: String, columns: Int, rows: Int, slice: Range<Int>? = nil) throws(ModelError) -> WeightMatrix {
        let m = try WeightMatrix(try tensor(name, [columns, rows]), rows: slice, in: file)
        if packWeights { m.pack() }
        bytes += m.byteCount
        return m
    }

    /// A bias or norm vector of `length` values if the file has `name`, else nil.
    func optionalVector(_ name: String, _ length: Int) throws(ModelError) -> [Float]? {
        has(name) ? try vector(name, length) : nil
    }

    /// The token embedding (`token_embd.weight`, `width × vocabulary`) and the output head: `output.weight`
    /// when the file has one, else the embedding itself (tied), packed once and used both ways.
    func embeddingAndOutput(width: Int, vocabulary: Int) throws(ModelError) -> (TokenEmbedding, WeightMatrix) {
        let tokenEmbedding = try tensor("token_embd.weight", [width, vocabulary])
        guard let embeddingType = kernelType(for: tokenEmbedding.type) else {
            throw ModelError(.unsupportedTensor, "token_embd.weight is \(tokenEmbedding.type), which Skiff cannot read")
        }
        if has("output.weight") {
            let output = try matrix("output.weight", columns: width, rows: vocabulary)
            let range = tokenEmbedding.fileOffset ..< tokenEmbedding.fileOffset + tokenEmbedding.byteCount
            file.file.adviseRandomAccess(range)
            let source = WeightSource(file: file.file, offset: tokenEmbedding.fileOffset, rowBytes: skiff_row_bytes(embeddingType, Int64(width)),
                                      rows: vocabulary, columns: width, type: tokenEmbedding.type)
            let embedding = TokenEmbedding.mapped(source, type: embeddingType)
            return (embedding, output)
        }
        let output = try WeightMatrix(tokenEmbedding, in: file)
        if packWeights { output.pack() }
        bytes += output.byteCount
        return (.packed(output), output)
    }

    /// RoPE's per-dimension frequency divisors (`rope_freqs.weight`, F32, one per rotating pair), if the file has them.
    func ropeFactors(pairs: Int) throws(ModelError) -> [Float]? {
        guard let t = file.tensor(named: "rope_freqs.weight") else { return nil }
        guard t.type == .f32, t.elementCount == pairs else {
            throw ModelError(.unsupportedTensor, "rope_freqs.weight should be F32 with \(pairs) values")
        }
        let data = file.data(of: t)
        return (0 ..< t.elementCount).map { data.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
    }
}

/// Where token embeddings come from: the packed output head when the two are tied (so the file's copy need not
/// stay resident), else rows of the mapped file, read with random-access advice.
enum TokenEmbedding: Sendable {
    case packed(WeightMatrix)
    case mapped(WeightSource, type: skiff_type)

    /// Writes the embedding of `token` into `destination`.
    func embed(_ token: Int32, into destination: UnsafeMutablePointer<Float>) {
        switch self {
        case .packed(let matrix):
            skiff_packed_row(matrix.matrix, Int64(token), destination)
        case .mapped(let source, let type):
            skiff_dequantize_row(type, source.bytes.baseAddress! + Int(token) * source.rowBytes, destination, Int64(source.columns))
        }
    }

    /// The table's rows in the model file.
    var source: WeightSource {
        switch self {
        case .packed(let matrix): matrix.source
        case .mapped(let source, _): source
        }
    }
}

import CSkiffKernels
import SkiffGGUF

/// The weights of a decoder whose GGUF `general.architecture` is `llama`: RMSNorm, RoPE, grouped-query
/// attention, SwiGLU feed-forward, tied or separate output head. Checked against llama.cpp with SmolLM2-135M
/// (docs/correctness.md). Files of other architectures are refused (`TransformerConfiguration`), and so are
/// tensors the kernels cannot compute with (`supportedTypeNames`) and RoPE scaling
/// other than none or linear; sliding-window attention is not implemented.
///
/// Immutable after loading; `TransformerRunner` runs it.
public final class LlamaModel: Sendable {
    /// One transformer block's weights.
    struct Layer: Sendable {
        let attentionNorm: [Float]
        let query: WeightMatrix
        let key: WeightMatrix
        let value: WeightMatrix
        let attentionOutput: WeightMatrix
        let feedForwardNorm: [Float]
        let gate: WeightMatrix
        let up: WeightMatrix
        let down: WeightMatrix
    }

    /// Hyper-parameters.
    public let configuration: TransformerConfiguration
    /// Where token embeddings come from: the packed output head when the two are tied (so the file's copy
    /// need not stay resident), else rows of the mapped file, read with random-access advice.
    enum Embedding: Sendable {
        case packed(WeightMatrix)
        case mapped(MappedFile, offset: Int, rowBytes: Int, type: skiff_type)
    }

    let embedding: Embedding
    let layers: [Layer]
    let outputNorm: [Float]
    let output: WeightMatrix
    let ropeInverseFrequencies: [Float]

    /// Bytes of weights held in memory (packed matrices and norms).
    public let weightBytes: Int

    /// Loads and repacks the weights of `file`. `progress` is called with (tensors done, tensors total).
    public init(file: GGUFFile, progress: (Int, Int) -> Void = { _, _ in }) throws(ModelError) {
        let configuration = try TransformerConfiguration(file: file)
        self.configuration = configuration
        let c = configuration

        func tensor(_ name: String, _ shape: [Int]) throws(ModelError) -> GGUFTensorInfo {
            guard let t = file.tensor(named: name) else {
                throw ModelError(.missingTensor, "the model file has no tensor '\(name)'")
            }
            guard t.dimensions == shape else {
                throw ModelError(.unsupportedTensor, "tensor '\(name)' has shape \(t.dimensions), expected \(shape)")
            }
            return t
        }
        func vector(_ name: String, _ length: Int) throws(ModelError) -> [Float] {
            let t = try tensor(name, [length])
            guard let type = kernelType(for: t.type) else {
                throw ModelError(.unsupportedTensor, "norm tensor '\(name)' is \(t.type); expected F32, F16 or BF16")
            }
            var values = [Float](repeating: 0, count: length)
            skiff_dequantize_row(type, file.data(of: t).baseAddress, &values, Int64(length))
            return values
        }

        let total = c.layerCount * 9 + 3
        var done = 0
        func matrix(_ name: String, _ columns: Int, _ rows: Int) throws(ModelError) -> WeightMatrix {
            let m = try WeightMatrix(try tensor(name, [columns, rows]), in: file)
            done += 1
            progress(done, total)
            return m
        }

        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.kvHeadCount * c.headDimension
        var layers: [Layer] = []
        for i in 0 ..< c.layerCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                attentionNorm: try vector(p + "attn_norm.weight", c.embeddingLength),
                query: try matrix(p + "attn_q.weight", c.embeddingLength, qWidth),
                key: try matrix(p + "attn_k.weight", c.embeddingLength, kvWidth),
                value: try matrix(p + "attn_v.weight", c.embeddingLength, kvWidth),
                attentionOutput: try matrix(p + "attn_output.weight", qWidth, c.embeddingLength),
                feedForwardNorm: try vector(p + "ffn_norm.weight", c.embeddingLength),
                gate: try matrix(p + "ffn_gate.weight", c.embeddingLength, c.feedForwardLength),
                up: try matrix(p + "ffn_up.weight", c.embeddingLength, c.feedForwardLength),
                down: try matrix(p + "ffn_down.weight", c.feedForwardLength, c.embeddingLength)))
        }
        self.layers = layers
        outputNorm = try vector("output_norm.weight", c.embeddingLength)
        let tokenEmbedding = try tensor("token_embd.weight", [c.embeddingLength, c.vocabularySize])
        guard let embeddingType = kernelType(for: tokenEmbedding.type) else {
            throw ModelError(.unsupportedTensor, "token_embd.weight is \(tokenEmbedding.type), which Skiff cannot read")
        }
        if file.tensor(named: "output.weight") != nil {
            output = try matrix("output.weight", c.embeddingLength, c.vocabularySize)
            let range = tokenEmbedding.fileOffset ..< tokenEmbedding.fileOffset + tokenEmbedding.byteCount
            file.file.adviseRandomAccess(range)
            embedding = .mapped(file.file, offset: tokenEmbedding.fileOffset,
                                rowBytes: skiff_row_bytes(embeddingType, Int64(c.embeddingLength)), type: embeddingType)
        } else {
            output = try WeightMatrix(tokenEmbedding, in: file)
            embedding = .packed(output)
        }
        progress(total, total)

        var factors: [Float]?
        if let t = file.tensor(named: "rope_freqs.weight") {
            guard t.type == .f32, t.elementCount == c.ropeDimensionCount / 2 else {
                throw ModelError(.unsupportedTensor, "rope_freqs.weight should be F32 with \(c.ropeDimensionCount / 2) values")
            }
            let data = file.data(of: t)
            factors = (0 ..< t.elementCount).map { data.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        }
        ropeInverseFrequencies = c.ropeInverseFrequencies(perDimensionFactors: factors)

        var bytes = output.byteCount + 4 * c.embeddingLength
        for layer in layers {
            bytes += [layer.query, layer.key, layer.value, layer.attentionOutput, layer.gate, layer.up, layer.down]
                .reduce(0) { $0 + $1.byteCount }
            bytes += 8 * c.embeddingLength
        }
        weightBytes = bytes
    }

    /// Writes the embedding of `token` into `destination` (embeddingLength floats).
    func embed(_ token: Int32, into destination: UnsafeMutablePointer<Float>) {
        switch embedding {
        case .packed(let matrix):
            skiff_packed_row(matrix.matrix, Int64(token), destination)
        case .mapped(let file, let offset, let rowBytes, let type):
            skiff_dequantize_row(type, file.bytes.baseAddress! + offset + Int(token) * rowBytes, destination,
                                 Int64(configuration.embeddingLength))
        }
    }
}

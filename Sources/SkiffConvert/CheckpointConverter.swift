import CSkiffKernels
import Foundation
import SkiffGGUF
import SkiffModels

/// Converts a Hugging Face checkpoint directory (`config.json` and safetensors in F32, F16 or BF16) to one
/// GGUF file that Skiff runs.
///
/// Weight matrices are stored at the requested type; norms, biases, convolution taps and per-head constants
/// stay F32 (they are small, and rounding them moves every token's numbers); at Q4_K the output head (or
/// the tied embedding that serves as it) is kept at Q8_0, as llama.cpp keeps it above 4 bits, because an
/// error there reaches the logits undamped. A matrix whose rows are not whole blocks of the type falls back
/// to the next wider type that fits (Q4_K → Q8_0 → F16).
public struct CheckpointConverter: Sendable {
    /// The storage types a conversion can ask for.
    public enum TargetType: String, Sendable, CaseIterable {
        case f32, f16, q8_0, q4_k

        var ggml: GGMLType {
            switch self {
            case .f32: .f32
            case .f16: .f16
            case .q8_0: .q8_0
            case .q4_k: .q4_K
            }
        }
    }

    /// Where a conversion is: the tensor being written and how many are done.
    public struct Progress: Sendable {
        /// The GGUF tensor.
        public let tensor: String
        public let type: GGMLType
        public let dimensions: [Int]
        /// Tensors written before this one.
        public let done: Int
        public let total: Int
    }

    let checkpoint: SafetensorsCheckpoint
    let layout: CheckpointLayout
    let tokenizer: TokenizerMetadata
    let name: String

    /// Reads and checks `directory`'s config.json, tensors and tokenizer (by default its own tokenizer.json);
    /// `contextLength` overrides the context the file declares.
    public init(directory: URL, tokenizer: TokenizerSource? = nil, contextLength: Int? = nil) throws(ConvertError) {
        layout = try CheckpointLayout.read(configuration: directory.appendingPathComponent("config.json"), contextLength: contextLength)
        checkpoint = try SafetensorsCheckpoint(directory: directory)
        self.tokenizer = try TokenizerMetadata.read(tokenizer ?? .huggingFace(directory))
        name = directory.standardizedFileURL.lastPathComponent
        for t in layout.tensors {
            guard let source = checkpoint.tensors[t.source] else {
                throw ConvertError(.unsupportedTensor, "the checkpoint lacks '\(t.source)' (\(layout.architecture)'s \(t.name), shape \(t.sourceShape)); is config.json the checkpoint's own?")
            }
            guard source.shape == t.sourceShape else {
                throw ConvertError(.unsupportedTensor, "'\(t.source)' has shape \(source.shape); config.json calls for \(t.sourceShape)")
            }
        }
        let used = Set(layout.tensors.map(\.source)).union(layout.omitted)
        if let extra = checkpoint.tensors.keys.filter({ !used.contains($0) }).sorted().first {
            throw ConvertError(.unsupportedTensor, "the checkpoint has '\(extra)', which \(layout.architecture) as Skiff runs it has no place for; converting would drop it")
        }
    }

    /// The GGUF type each tensor is stored as, for `target`.
    func storage(_ tensor: CheckpointLayout.Tensor, _ target: TargetType) -> GGMLType {
        var type: GGMLType
        switch tensor.role {
        case .exact: return .f32
        case .head: type = target == .q4_k ? .q8_0 : target.ggml
        case .matrix: type = target.ggml
        }
        let row = tensor.dimensions[0]
        if type == .q4_K && row % 256 != 0 { type = .q8_0 }
        if type == .q8_0 && row % 32 != 0 { type = .f16 }
        return type
    }

    /// Writes the GGUF file at `output` (it appears only when complete), quantizing on `threads` threads;
    /// `progress` is called before each tensor.
    public func write(to output: String, type target: TargetType, threads: Int = ComputePool.defaultThreadCount,
                      progress: (Progress) -> Void = { _ in }) throws(ConvertError) {
        let pool: ComputePool
        do { pool = try ComputePool(threadCount: threads) } catch { throw ConvertError(.unwritable, error.message) }
        var metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string(layout.architecture)),
            ("general.name", .string(name)),
        ]
        if target == .q8_0 || target == .q4_k { metadata.append(("general.quantization_version", .uint32(2))) }
        metadata += layout.metadata
        metadata += try tokenizer.entries(paddedTo: layout.vocabularyRows)
        let planned = layout.tensors.map { GGUFWriter.Tensor(name: $0.name, dimensions: $0.dimensions, type: storage($0, target)) }
        /// A write, its failure in the converter's terms.
        func io<T>(_ body: () throws(GGUFError) -> T) throws(ConvertError) -> T {
            do { return try body() } catch { throw ConvertError(.unwritable, error.message) }
        }
        let writer = try io { () throws(GGUFError) in try GGUFWriter(path: output, metadata: metadata, tensors: planned) }
        for (i, (tensor, stored)) in zip(layout.tensors, planned).enumerated() {
            progress(Progress(tensor: tensor.name, type: stored.type, dimensions: stored.dimensions, done: i, total: planned.count))
            let values = checkpoint.tensors[tensor.source]!.floats()
            guard values.allSatisfy(\.isFinite) else {
                throw ConvertError(.unsupportedTensor, "'\(tensor.source)' holds NaN or infinite values; the checkpoint is damaged")
            }
            var bytes = [UInt8](repeating: 0, count: stored.byteCount)
            let columns = stored.dimensions[0], rows = values.count / columns
            let written = bytes.withUnsafeMutableBytes {
                skiff_quantize_rows(pool.pool, skiff_type(stored.type.rawValue), values, $0.baseAddress, Int64(rows), Int64(columns))
            }
            precondition(written == 1, "the storage policy chose a type the quantizer cannot write")
            try io { () throws(GGUFError) in try bytes.withUnsafeBytes { raw in Result { () throws(GGUFError) in try writer.write(raw) } }.get() }
        }
        try io { () throws(GGUFError) in try writer.finish() }
    }
}

import CSkiffKernels
import Foundation
import SkiffGGUF

/// The tensors of a Hugging Face checkpoint directory: one `*.safetensors` file, or several listed by
/// `model.safetensors.index.json`, memory-mapped.
///
/// A safetensors file is an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
/// shape (slowest dimension first, as PyTorch has it) and byte range, then the data.
public struct SafetensorsCheckpoint: Sendable {
    /// One tensor of the checkpoint.
    public struct Tensor: Sendable {
        public let name: String
        /// `F32`, `F16` or `BF16`.
        public let dtype: String
        /// PyTorch's order: the slowest-varying dimension first.
        public let shape: [Int]
        let file: MappedFile
        let offset: Int
    }

    /// The tensors by name.
    public let tensors: [String: Tensor]

    /// The dtypes the reader converts.
    static let readable = ["F32": 4, "F16": 2, "BF16": 2]

    /// Maps the safetensors files of `directory`.
    public init(directory: URL) throws(ConvertError) {
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        var files: [String]
        if FileManager.default.fileExists(atPath: index.path) {
            guard let json = try? JSONSerialization.jsonObject(with: Data(contentsOf: index)) as? [String: Any],
                  let map = json["weight_map"] as? [String: String] else {
                throw ConvertError(.invalidCheckpoint, "\(index.path) is not a safetensors index (a JSON object with a weight_map of tensor names to files)")
            }
            files = Array(Set(map.values)).sorted()
        } else {
            files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
                .filter { $0.hasSuffix(".safetensors") }.sorted()
        }
        guard !files.isEmpty else {
            throw ConvertError(.invalidCheckpoint, "\(directory.path) holds no .safetensors file (a Hugging Face checkpoint has model.safetensors or shards listed by model.safetensors.index.json)")
        }
        var tensors: [String: Tensor] = [:]
        for name in files {
            for tensor in try Self.read(directory.appendingPathComponent(name).path) {
                guard tensors[tensor.name] == nil else {
                    throw ConvertError(.invalidCheckpoint, "tensor '\(tensor.name)' appears in more than one safetensors file of \(directory.path)")
                }
                tensors[tensor.name] = tensor
            }
        }
        self.tensors = tensors
    }

    /// The tensors of one safetensors file, checked against its size.
    static func read(_ path: String) throws(ConvertError) -> [Tensor] {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { throw ConvertError(.invalidCheckpoint, error.message) }
        let bytes = file.bytes
        guard bytes.count >= 8 else { throw ConvertError(.invalidCheckpoint, "\(path) is too short to be a safetensors file") }
        let headerLength = Int(clamping: bytes.loadUnaligned(as: UInt64.self).littleEndian)
        guard headerLength <= bytes.count - 8 else {
            throw ConvertError(.invalidCheckpoint, "\(path): its header claims \(headerLength) bytes but the file has \(bytes.count - 8) after the length")
        }
        let header = Data(bytes[8 ..< 8 + headerLength])
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw ConvertError(.invalidCheckpoint, "\(path): the header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var out: [Tensor] = []
        for (name, value) in json where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let range = entry["data_offsets"] as? [Int], range.count == 2 else {
                throw ConvertError(.invalidCheckpoint, "\(path): tensor '\(name)' lacks a dtype, shape or data_offsets")
            }
            guard let size = readable[dtype] else {
                throw ConvertError(.unsupportedTensor, "\(path): tensor '\(name)' is \(dtype); skiff convert reads F32, F16 and BF16")
            }
            let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            guard shape.allSatisfy({ $0 > 0 }), range[0] >= 0, range[1] - range[0] == count * size,
                  dataStart + range[1] <= bytes.count else {
                throw ConvertError(.invalidCheckpoint, "\(path): tensor '\(name)' of \(dtype) \(shape) does not fit its data_offsets \(range) in a file of \(bytes.count) bytes")
            }
            out.append(Tensor(name: name, dtype: dtype, shape: shape, file: file, offset: dataStart + range[0]))
        }
        return out
    }
}

extension SafetensorsCheckpoint.Tensor {
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// The values as 32-bit floats (F16 and BF16 widened exactly).
    public func floats() -> [Float] {
        let base = file.bytes.baseAddress! + offset
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            switch dtype {
            case "F32": memcpy(buffer.baseAddress!, base, count * 4)
            case "F16": skiff_f16_to_f32(base.assumingMemoryBound(to: UInt16.self), buffer.baseAddress!, count)
            default: skiff_bf16_to_f32(base.assumingMemoryBound(to: UInt16.self), buffer.baseAddress!, count)
            }
            initialized = count
        }
    }
}

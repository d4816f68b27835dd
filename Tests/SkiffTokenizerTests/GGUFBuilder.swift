import Foundation
import SkiffGGUF

/// Writes a metadata-only GGUF (version 3, no tensors) to a temporary file and parses it back, so tests can
/// build tokenizers from small made-up vocabularies.
struct GGUFBuilder {
    enum Value {
        case string(String)
        case bool(Bool)
        case uint32(UInt32)
        case strings([String])
        case int32s([Int32])
        case float32s([Float])
    }

    private var entries: [(String, Value)] = []

    subscript(key: String) -> Value? {
        get { entries.first { $0.0 == key }?.1 }
        set {
            entries.removeAll { $0.0 == key }
            if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    /// The metadata of the file these entries make.
    func metadata() throws -> GGUFMetadata {
        let path = FileManager.default.temporaryDirectory.appending(path: "skiff-tokenizer-\(UUID().uuidString).gguf").path
        try Data(bytes()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try GGUFFile(path: path).metadata
    }

    private func bytes() -> [UInt8] {
        var out: [UInt8] = []
        func integer<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { out += $0 }
        }
        func string(_ value: String) {
            integer(UInt64(value.utf8.count))
            out += value.utf8
        }
        integer(UInt32(0x4655_4747))  // "GGUF"
        integer(UInt32(3))
        integer(UInt64(0))  // tensors
        integer(UInt64(entries.count))
        for (key, value) in entries {
            string(key)
            switch value {
            case .string(let s):
                integer(UInt32(8)); string(s)
            case .bool(let b):
                integer(UInt32(7)); out.append(b ? 1 : 0)
            case .uint32(let v):
                integer(UInt32(4)); integer(v)
            case .strings(let values):
                integer(UInt32(9)); integer(UInt32(8)); integer(UInt64(values.count))
                values.forEach(string)
            case .int32s(let values):
                integer(UInt32(9)); integer(UInt32(5)); integer(UInt64(values.count))
                values.forEach(integer)
            case .float32s(let values):
                integer(UInt32(9)); integer(UInt32(6)); integer(UInt64(values.count))
                values.forEach { integer($0.bitPattern) }
            }
        }
        return out
    }
}

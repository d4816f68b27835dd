import Foundation
@testable import SkiffGGUF

/// Writes GGUF bytes for tests: a valid file by default, with knobs to break it.
struct GGUFBuilder {
    struct Tensor {
        var name: String
        var dimensions: [UInt64]
        var typeID: UInt32
        var relativeOffset: UInt64? = nil
        var dataBytes: Int
    }

    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(String, GGUFValue)] = []
    var tensors: [Tensor] = []
    var alignment = 32
    var tensorCountOverride: UInt64? = nil
    var metadataCountOverride: UInt64? = nil

    func build() -> Data {
        var out = Data(magic)
        out.append(le: version)
        out.append(le: tensorCountOverride ?? UInt64(tensors.count))
        out.append(le: metadataCountOverride ?? UInt64(metadata.count))
        for (key, value) in metadata {
            out.appendString(key)
            out.append(le: Self.typeID(of: value))
            Self.appendValue(value, to: &out)
        }
        var nextOffset: UInt64 = 0
        var placements: [(UInt64, Int)] = []
        for tensor in tensors {
            out.appendString(tensor.name)
            out.append(le: UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { out.append(le: d) }
            out.append(le: tensor.typeID)
            let offset = tensor.relativeOffset ?? nextOffset
            out.append(le: offset)
            placements.append((offset, tensor.dataBytes))
            nextOffset = (offset + UInt64(tensor.dataBytes) + UInt64(alignment) - 1) / UInt64(alignment) * UInt64(alignment)
        }
        while out.count % alignment != 0 { out.append(0) }
        let dataStart = out.count
        let dataEnd = placements.map { dataStart + Int($0.0) + $0.1 }.max() ?? dataStart
        var data = [UInt8](repeating: 0, count: max(0, dataEnd - dataStart))
        for (i, (offset, count)) in placements.enumerated() {
            for j in 0 ..< count where Int(offset) + j < data.count {
                data[Int(offset) + j] = UInt8((i * 31 + j) & 0xFF)
            }
        }
        out.append(contentsOf: data)
        return out
    }

    static func typeID(of value: GGUFValue) -> UInt32 {
        switch value {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }

    static func appendValue(_ value: GGUFValue, to out: inout Data) {
        switch value {
        case .uint8(let v): out.append(le: v)
        case .int8(let v): out.append(le: v)
        case .uint16(let v): out.append(le: v)
        case .int16(let v): out.append(le: v)
        case .uint32(let v): out.append(le: v)
        case .int32(let v): out.append(le: v)
        case .float32(let v): out.append(le: v.bitPattern)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let v): out.appendString(v)
        case .array(let elements):
            out.append(le: elements.first.map(typeID(of:)) ?? 0)
            out.append(le: UInt64(elements.count))
            for e in elements { appendValue(e, to: &out) }
        case .uint64(let v): out.append(le: v)
        case .int64(let v): out.append(le: v)
        case .float64(let v): out.append(le: v.bitPattern)
        }
    }
}

extension Data {
    mutating func append<T: FixedWidthInteger>(le value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendString(_ s: String) {
        append(le: UInt64(s.utf8.count))
        append(contentsOf: Array(s.utf8))
    }
}

/// Writes `data` to a fresh temporary file and parses it.
func parse(_ data: Data) throws -> GGUFFile {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-gguf-\(UUID().uuidString).gguf")
    try data.write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    return try GGUFFile(path: url.path)
}

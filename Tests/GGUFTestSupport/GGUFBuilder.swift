import Foundation
import SkiffGGUF

/// Writes GGUF bytes for tests: a valid file by default (version 3), with knobs to break it; metadata
/// only, or with tensors whose data is given or a made-up byte pattern.
public struct GGUFBuilder: Sendable {
    /// A tensor's header entry and how many data bytes follow for it.
    public struct Tensor: Sendable {
        public var name: String
        public var dimensions: [UInt64]
        public var typeID: UInt32
        /// Where its data starts, relative to the data section; nil: after the previous tensor, aligned.
        public var relativeOffset: UInt64?
        public var dataBytes: Int
        /// The data; nil: a made-up byte pattern of `dataBytes` bytes.
        public var data: [UInt8]?

        public init(name: String, dimensions: [UInt64], typeID: UInt32, relativeOffset: UInt64? = nil, dataBytes: Int) {
            self.name = name
            self.dimensions = dimensions
            self.typeID = typeID
            self.relativeOffset = relativeOffset
            self.dataBytes = dataBytes
        }

        /// A tensor holding `data`.
        public init(name: String, dimensions: [UInt64], typeID: UInt32, data: [UInt8]) {
            self.init(name: name, dimensions: dimensions, typeID: typeID, dataBytes: data.count)
            self.data = data
        }
    }

    public var magic: [UInt8] = Array("GGUF".utf8)
    public var version: UInt32 = 3
    /// Metadata key-value pairs in file order.
    public var entries: [(String, GGUFValue)] = []
    public var tensors: [Tensor] = []
    public var alignment = 32
    public var tensorCountOverride: UInt64? = nil
    public var metadataCountOverride: UInt64? = nil

    public init() {}

    /// The value under `key`; setting replaces it (nil removes it).
    public subscript(key: String) -> GGUFValue? {
        get { entries.first { $0.0 == key }?.1 }
        set {
            entries.removeAll { $0.0 == key }
            if let newValue { entries.append((key, newValue)) }
        }
    }

    /// The file, parsed back by `GGUFFile`.
    public func file() throws -> GGUFFile {
        try parse(build())
    }

    /// The metadata of the file, parsed back.
    public func metadata() throws -> GGUFMetadata {
        try file().metadata
    }

    /// The file's bytes.
    public func build() -> Data {
        var out = Data(magic)
        out.append(le: version)
        out.append(le: tensorCountOverride ?? UInt64(tensors.count))
        out.append(le: metadataCountOverride ?? UInt64(entries.count))
        for (key, value) in entries {
            out.appendString(key)
            out.append(le: value.typeID)
            var encoded: [UInt8] = []
            value.encode(into: &encoded)
            out.append(contentsOf: encoded)
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
                data[Int(offset) + j] = tensors[i].data?[j] ?? UInt8((i * 31 + j) & 0xFF)
            }
        }
        out.append(contentsOf: data)
        return out
    }
}

extension Data {
    /// Appends `value` in little-endian byte order, as GGUF stores numbers.
    public mutating func append<T: FixedWidthInteger>(le value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// Appends a GGUF string: its length in bytes as a 64-bit number, then its UTF-8 bytes.
    public mutating func appendString(_ s: String) {
        append(le: UInt64(s.utf8.count))
        append(contentsOf: Array(s.utf8))
    }
}

/// Writes `data` to a fresh temporary file and parses it.
public func parse(_ data: Data) throws -> GGUFFile {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-gguf-\(UUID().uuidString).gguf")
    try data.write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    return try GGUFFile(path: url.path)
}

extension GGUFValue {
    /// An array of strings.
    public static func strings(_ values: [String]) -> GGUFValue { .array(values.map(GGUFValue.string)) }
    /// An array of 32-bit integers.
    public static func int32s(_ values: [Int32]) -> GGUFValue { .array(values.map(GGUFValue.int32)) }
    /// An array of 32-bit floats.
    public static func float32s(_ values: [Float]) -> GGUFValue { .array(values.map(GGUFValue.float32)) }
}

/// A parsed GGUF model file (versions 2 and 3), memory-mapped.
///
/// Parsing validates everything it reads against the file's size before allocating, so a truncated, corrupt
/// or hostile file is rejected with a `GGUFError` naming the problem. Tensor data is not copied: `data(of:)`
/// returns a view into the mapping.
public struct GGUFFile: Sendable {
    /// The format version (2 or 3).
    public let version: UInt32
    /// Metadata key-value pairs.
    public let metadata: GGUFMetadata
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// The data alignment (`general.alignment`, 32 when absent).
    public let alignment: Int
    /// The mapped file.
    public let file: MappedFile

    private let tensorIndex: [String: Int]

    /// Maps and parses the file at `path`.
    public init(path: String) throws(GGUFError) {
        try self.init(file: MappedFile(path: path))
    }

    /// Parses an already mapped file.
    public init(file: MappedFile) throws(GGUFError) {
        self.file = file
        var reader = GGUFReader(bytes: file.bytes)
        let header = try reader.readHeader()
        version = header.version
        metadata = header.metadata
        alignment = header.alignment
        tensors = header.tensors
        var index: [String: Int] = [:]
        for (i, tensor) in tensors.enumerated() {
            guard index.updateValue(i, forKey: tensor.name) == nil else {
                throw GGUFError(.invalidTensor, "tensor '\(tensor.name)' appears twice in '\(file.path)'")
            }
        }
        tensorIndex = index
    }

    /// The tensor named `name`, if the file has one.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The bytes of `tensor`'s data, a view into the mapping (valid while this file is alive).
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[tensor.fileOffset ..< tensor.fileOffset + tensor.byteCount])
    }

    /// The architecture named by `general.architecture`.
    public var architecture: String? { metadata.string("general.architecture") }
}

/// A bounds-checked cursor over the file's bytes.
struct GGUFReader {
    struct Header {
        var version: UInt32
        var metadata: GGUFMetadata
        var alignment: Int
        var tensors: [GGUFTensorInfo]
    }

    /// Limits that keep a hostile file from exhausting memory or the stack.
    static let maxArrayNesting = 8
    static let maxDimensions = 4
    static let maxTensorNameBytes = 1024
    static let maxAlignment = 1 << 20

    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - offset }

    mutating func readHeader() throws(GGUFError) -> Header {
        guard bytes.count >= 4 else {
            throw GGUFError(.truncated, "file has \(bytes.count) bytes, too short for a GGUF header")
        }
        let magic: UInt32 = try read()
        guard magic == 0x4655_4747 else {
            let shown = (0 ..< 4).map { String(format2: bytes[$0]) }.joined(separator: " ")
            throw GGUFError(.badMagic, "not a GGUF file: it starts with bytes \(shown), expected 47 47 55 46 (\"GGUF\")")
        }
        let version: UInt32 = try read(what: "the version")
        guard version == 2 || version == 3 else {
            throw GGUFError(.unsupportedVersion, "GGUF version \(version) is not supported (only 2 and 3 are)")
        }
        let tensorCount = try readCount(what: "the tensor count", minimumElementBytes: 8 + 4 + 8 + 4 + 8)
        let keyCount = try readCount(what: "the metadata count", minimumElementBytes: 8 + 4 + 1)

        var keys: [String] = []
        var values: [String: GGUFValue] = [:]
        keys.reserveCapacity(keyCount)
        for i in 0 ..< keyCount {
            let key = try readString(what: "metadata key #\(i)")
            let typeID: UInt32 = try read(what: "the type of metadata key '\(key)'")
            let value = try readValue(typeID: typeID, key: key, depth: 0)
            if values.updateValue(value, forKey: key) == nil {
                keys.append(key)
            }
        }
        let metadata = GGUFMetadata(keys: keys, values: values)

        // A power of two, as ggml requires; at least 8, so that tensor data is aligned for the types it holds.
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, (8 ... Self.maxAlignment).contains(a), a & (a - 1) == 0 else {
                throw GGUFError.invalidValue(key: "general.alignment", value: value,
                                             requirement: "a power of two from 8 to \(Self.maxAlignment)")
            }
            alignment = a
        }

        struct RawTensor {
            var name: String
            var dimensions: [Int]
            var type: GGMLType
            var relativeOffset: Int
            var byteCount: Int
        }
        var raw: [RawTensor] = []
        raw.reserveCapacity(tensorCount)
        for i in 0 ..< tensorCount {
            let name = try readString(what: "the name of tensor #\(i)", limit: Self.maxTensorNameBytes)
            let dimensionCount: UInt32 = try read(what: "the dimension count of tensor '\(name)'")
            guard (1 ... UInt32(Self.maxDimensions)).contains(dimensionCount) else {
                throw GGUFError(.invalidTensor, "tensor '\(name)' has \(dimensionCount) dimensions; 1 to \(Self.maxDimensions) are allowed")
            }
            var dimensions: [Int] = []
            var elements = 1
            for _ in 0 ..< dimensionCount {
                let d: UInt64 = try read(what: "the dimensions of tensor '\(name)'")
                guard d > 0, d <= UInt64(Int32.max) else {
                    throw GGUFError(.invalidTensor, "tensor '\(name)' has a dimension of \(d)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow, product <= bytes.count * 8 else {
                    throw GGUFError(.invalidTensor, "tensor '\(name)' has more elements than the file could hold")
                }
                elements = product
                dimensions.append(Int(d))
            }
            let typeID: UInt32 = try read(what: "the type of tensor '\(name)'")
            guard let type = GGMLType(rawValue: typeID) else {
                throw GGUFError(.unknownTensorType, "tensor '\(name)' has unknown ggml type id \(typeID)")
            }
            guard dimensions[0] % type.blockSize == 0 else {
                throw GGUFError(.invalidTensor, "tensor '\(name)' has rows of \(dimensions[0]) elements, not a multiple of the \(type) block size \(type.blockSize)")
            }
            let relativeOffset: UInt64 = try read(what: "the offset of tensor '\(name)'")
            guard relativeOffset <= UInt64(bytes.count) else {
                throw GGUFError(.invalidTensor, "tensor '\(name)' starts at offset \(relativeOffset), past the end of the \(bytes.count)-byte file")
            }
            guard Int(relativeOffset) % alignment == 0 else {
                throw GGUFError(.invalidTensor, "tensor '\(name)' offset \(relativeOffset) is not a multiple of the alignment \(alignment)")
            }
            raw.append(RawTensor(name: name, dimensions: dimensions, type: type,
                                 relativeOffset: Int(relativeOffset),
                                 byteCount: elements / type.blockSize * type.blockBytes))
        }

        let dataStart = (offset + alignment - 1) / alignment * alignment
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(raw.count)
        for t in raw {
            let start = dataStart + t.relativeOffset
            let end = start + t.byteCount
            guard end <= bytes.count else {
                throw GGUFError(.invalidTensor, "tensor '\(t.name)' ends at byte \(end) but the file has \(bytes.count) bytes (truncated download?)")
            }
            tensors.append(GGUFTensorInfo(name: t.name, dimensions: t.dimensions, type: t.type,
                                          fileOffset: start, byteCount: t.byteCount))
        }
        // No two tensors share bytes (ggml lays them out one after another), so together they fit in the file.
        let byOffset = tensors.sorted { $0.fileOffset < $1.fileOffset }
        for (previous, next) in zip(byOffset, byOffset.dropFirst()) where next.fileOffset < previous.fileOffset + previous.byteCount {
            throw GGUFError(.invalidTensor, "tensor '\(next.name)' starts at byte \(next.fileOffset), inside tensor '\(previous.name)' "
                            + "(bytes \(previous.fileOffset) to \(previous.fileOffset + previous.byteCount))")
        }
        return Header(version: version, metadata: metadata, alignment: alignment, tensors: tensors)
    }

    mutating func read<T: FixedWidthInteger>(what: @autoclosure () -> String = "the header") throws(GGUFError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else {
            throw GGUFError(.truncated, "file ends at byte \(bytes.count) while reading \(what())")
        }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    /// Reads a 64-bit count and checks that that many elements of at least `minimumElementBytes` each fit.
    mutating func readCount(what: String, minimumElementBytes: Int) throws(GGUFError) -> Int {
        let count: UInt64 = try read(what: what)
        guard count <= UInt64(remaining / minimumElementBytes) else {
            throw GGUFError(.implausibleCount, "\(what) is \(count), more than the \(remaining) bytes left in the file can hold")
        }
        return Int(count)
    }

    mutating func readString(what: @autoclosure () -> String, limit: Int = Int.max) throws(GGUFError) -> String {
        let length: UInt64 = try read(what: what())
        guard length <= UInt64(remaining) else {
            throw GGUFError(.truncated, "\(what()) claims \(length) bytes but only \(remaining) are left in the file")
        }
        guard length <= UInt64(limit) else {
            throw GGUFError(.implausibleCount, "\(what()) is \(length) bytes long; at most \(limit) are allowed")
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + Int(length)])
        offset += Int(length)
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw GGUFError(.invalidValue, "\(what()) is not valid UTF-8")
        }
        return string
    }

    mutating func readValue(typeID: UInt32, key: String, depth: Int) throws(GGUFError) -> GGUFValue {
        let what = "the value of metadata key '\(key)'"
        switch typeID {
        case 0: return .uint8(try read(what: what))
        case 1: return .int8(try read(what: what))
        case 2: return .uint16(try read(what: what))
        case 3: return .int16(try read(what: what))
        case 4: return .uint32(try read(what: what))
        case 5: return .int32(try read(what: what))
        case 6: return .float32(Float(bitPattern: try read(what: what)))
        case 7:
            let byte: UInt8 = try read(what: what)
            guard byte <= 1 else {
                throw GGUFError(.invalidValue, "metadata key '\(key)' is a bool with byte value \(byte); only 0 and 1 are valid")
            }
            return .bool(byte == 1)
        case 8: return .string(try readString(what: what))
        case 9:
            guard depth < Self.maxArrayNesting else {
                throw GGUFError(.invalidValue, "metadata key '\(key)' nests arrays deeper than \(Self.maxArrayNesting) levels")
            }
            let elementType: UInt32 = try read(what: "the element type of metadata key '\(key)'")
            guard let elementBytes = Self.minimumBytes(ofType: elementType) else {
                throw GGUFError(.invalidValue, "metadata key '\(key)' is an array of unknown value type \(elementType)")
            }
            let count = try readCount(what: "the length of metadata array '\(key)'", minimumElementBytes: elementBytes)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0 ..< count {
                elements.append(try readValue(typeID: elementType, key: key, depth: depth + 1))
            }
            return .array(elements)
        case 10: return .uint64(try read(what: what))
        case 11: return .int64(try read(what: what))
        case 12: return .float64(Double(bitPattern: try read(what: what)))
        default:
            throw GGUFError(.invalidValue, "metadata key '\(key)' has unknown value type \(typeID)")
        }
    }

    /// The fewest bytes a value of the type can take, or nil for an unknown type.
    static func minimumBytes(ofType typeID: UInt32) -> Int? {
        switch typeID {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 8: 8
        case 9: 12
        case 10, 11, 12: 8
        default: nil
        }
    }
}

extension String {
    /// Two hex digits for a byte.
    fileprivate init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a GGUF file (version 3): the metadata and every tensor's header first, then each tensor's data in
/// the order declared, each aligned to `general.alignment` (32 bytes).
///
/// The data streams: a tensor is handed over, written and forgotten, so a file larger than memory can be
/// made. The file appears at `path` only when `finish()` has written everything (it is written next to it
/// as `path.partial` and renamed), so an interrupted writer never leaves a file that looks complete.
public final class GGUFWriter {
    /// A tensor's header entry.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        /// GGUF's order: the fastest-varying dimension first.
        public var dimensions: [Int]
        public var type: GGMLType

        public init(name: String, dimensions: [Int], type: GGMLType) {
            self.name = name
            self.dimensions = dimensions
            self.type = type
        }

        /// Bytes of its data.
        public var byteCount: Int { dimensions.reduce(1, *) / type.blockSize * type.blockBytes }
    }

    /// Where the finished file goes.
    public let path: String
    private let partialPath: String
    private let tensors: [Tensor]
    private let alignment = 32
    private var descriptor: Int32
    private var written = 0
    private var position = 0

    /// Creates `path.partial` and writes the header: `metadata` in order, then `tensors`' entries.
    public init(path: String, metadata: [(String, GGUFValue)], tensors: [Tensor]) throws(GGUFError) {
        for t in tensors {
            guard !t.dimensions.isEmpty, t.dimensions.allSatisfy({ $0 > 0 }), t.dimensions[0] % t.type.blockSize == 0 else {
                throw GGUFError(.invalidTensor, "tensor '\(t.name)' of \(t.type) cannot have dimensions \(t.dimensions): the first must be a multiple of \(t.type.blockSize)")
            }
        }
        self.path = path
        self.partialPath = path + ".partial"
        self.tensors = tensors
        descriptor = open(partialPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw GGUFError(.unwritable, "cannot create '\(partialPath)': \(String(cString: strerror(errno)))")
        }
        var header: [UInt8] = Array("GGUF".utf8)
        header.appendLittleEndian(UInt32(3))
        header.appendLittleEndian(UInt64(tensors.count))
        header.appendLittleEndian(UInt64(metadata.count))
        for (key, value) in metadata {
            header.appendGGUFString(key)
            header.appendLittleEndian(value.typeID)
            value.encode(into: &header)
        }
        var offset = 0
        for t in tensors {
            header.appendGGUFString(t.name)
            header.appendLittleEndian(UInt32(t.dimensions.count))
            for d in t.dimensions { header.appendLittleEndian(UInt64(d)) }
            header.appendLittleEndian(t.type.rawValue)
            header.appendLittleEndian(UInt64(offset))
            offset = aligned(offset + t.byteCount)
        }
        header.append(contentsOf: repeatElement(0, count: aligned(header.count) - header.count))
        try emit(header)
        position = 0
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(partialPath)
        }
    }

    /// The tensor the next `write` must hold, or nil when all are written.
    public var next: Tensor? { written < tensors.count ? tensors[written] : nil }

    /// Writes the next tensor's data, which must be exactly its `byteCount` bytes.
    public func write(_ data: UnsafeRawBufferPointer) throws(GGUFError) {
        guard let tensor = next else {
            throw GGUFError(.invalidTensor, "all \(tensors.count) tensors of '\(path)' are already written")
        }
        guard data.count == tensor.byteCount else {
            throw GGUFError(.invalidTensor, "tensor '\(tensor.name)' needs \(tensor.byteCount) bytes of \(tensor.type), not \(data.count)")
        }
        try emit(data)
        position += data.count
        let padding = aligned(position) - position
        if padding > 0 { try emit([UInt8](repeating: 0, count: padding)) }
        position += padding
        written += 1
    }

    /// Closes the file and moves it to `path`; every declared tensor must have been written.
    public func finish() throws(GGUFError) {
        if let missing = next {
            throw GGUFError(.invalidTensor, "'\(path)' is not finished: tensor '\(missing.name)' and \(tensors.count - written - 1) after it are not written")
        }
        let result = fsync(descriptor) == 0 && close(descriptor) == 0
        descriptor = -1
        guard result, rename(partialPath, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(partialPath)
            throw GGUFError(.unwritable, "cannot finish '\(path)': \(message)")
        }
    }

    private func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    private func emit(_ bytes: [UInt8]) throws(GGUFError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(GGUFError) in try emit(raw) } }.get()
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws(GGUFError) {
        var done = 0
        while done < bytes.count {
            let n = systemWrite(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw GGUFError(.unwritable, "cannot write '\(partialPath)': \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }
}

/// POSIX `write`, named apart from the writer's own method.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

extension GGUFValue {
    /// GGUF's id of the value's type.
    public var typeID: UInt32 {
        switch self {
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

    /// Appends the value as GGUF stores it (little-endian; an array as its element type, count, elements).
    public func encode(into out: inout [UInt8]) {
        switch self {
        case .uint8(let v): out.appendLittleEndian(v)
        case .int8(let v): out.appendLittleEndian(v)
        case .uint16(let v): out.appendLittleEndian(v)
        case .int16(let v): out.appendLittleEndian(v)
        case .uint32(let v): out.appendLittleEndian(v)
        case .int32(let v): out.appendLittleEndian(v)
        case .float32(let v): out.appendLittleEndian(v.bitPattern)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let v): out.appendGGUFString(v)
        case .array(let elements):
            out.appendLittleEndian(elements.first?.typeID ?? 0)
            out.appendLittleEndian(UInt64(elements.count))
            for e in elements { e.encode(into: &out) }
        case .uint64(let v): out.appendLittleEndian(v)
        case .int64(let v): out.appendLittleEndian(v)
        case .float64(let v): out.appendLittleEndian(v.bitPattern)
        }
    }
}

extension [UInt8] {
    /// Appends `value` in little-endian byte order, as GGUF stores numbers.
    public mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// Appends a GGUF string: its length in bytes as a 64-bit number, then its UTF-8 bytes.
    public mutating func appendGGUFString(_ s: String) {
        appendLittleEndian(UInt64(s.utf8.count))
        append(contentsOf: s.utf8)
    }
}

/// One byte string per token id, stored contiguously, with a hash index from bytes back to the id.
///
/// Lookups take a buffer pointer, so the encoders can ask about any span of their input without allocating.
/// Byte strings are compared exactly (no Unicode normalization, unlike `String` equality).
/// When two ids share the same bytes the later id wins, as in llama.cpp's text-to-token map.
struct ByteStringTable: Sendable {
    private var storage: [UInt8] = []
    private var offsets: [Int] = [0]
    /// Open-addressing slots holding ids, -1 when empty; the count is a power of two.
    private var slots: [Int32] = []

    /// Builds the table; `indexed(id)` says whether the id's bytes are found by `id(of:)` (empty strings never are).
    init(_ strings: [[UInt8]], indexed: (Int) -> Bool = { _ in true }) {
        storage.reserveCapacity(strings.reduce(0) { $0 + $1.count })
        offsets.reserveCapacity(strings.count + 1)
        for bytes in strings {
            storage.append(contentsOf: bytes)
            offsets.append(storage.count)
        }
        let indexedIDs = strings.indices.filter { !strings[$0].isEmpty && indexed($0) }
        var capacity = 16
        while capacity < indexedIDs.count * 2 {
            capacity <<= 1
        }
        slots = Array(repeating: -1, count: capacity)
        for id in indexedIDs {
            insert(Int32(id))
        }
    }

    /// The number of ids.
    var count: Int { offsets.count - 1 }

    /// The bytes of `id`.
    subscript(id: Int) -> ArraySlice<UInt8> {
        storage[offsets[id] ..< offsets[id + 1]]
    }

    /// The id whose bytes equal `bytes`, if one is indexed.
    func id(of bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard !bytes.isEmpty else { return nil }
        let mask = slots.count - 1
        var slot = Self.hash(bytes) & mask
        while true {
            let candidate = slots[slot]
            if candidate < 0 {
                return nil
            }
            if equals(Int(candidate), bytes) {
                return candidate
            }
            slot = (slot + 1) & mask
        }
    }

    /// The id whose bytes equal `bytes`, if one is indexed.
    func id(of bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBufferPointer { id(of: $0) }
    }

    private mutating func insert(_ id: Int32) {
        let mask = slots.count - 1
        let hash = storage.withUnsafeBufferPointer { buffer in
            Self.hash(UnsafeBufferPointer(rebasing: buffer[offsets[Int(id)] ..< offsets[Int(id) + 1]]))
        }
        var slot = hash & mask
        while slots[slot] >= 0 {
            if self[Int(slots[slot])] == self[Int(id)] {
                slots[slot] = id
                return
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = id
    }

    private func equals(_ id: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = offsets[id]
        guard offsets[id + 1] - start == bytes.count else { return false }
        return storage.withUnsafeBufferPointer { buffer in
            for i in 0 ..< bytes.count where buffer[start + i] != bytes[i] {
                return false
            }
            return true
        }
    }

    /// FNV-1a, folded to `Int`.
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}

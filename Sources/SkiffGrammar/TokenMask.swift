/// A set of token ids as a bitset: the tokens a grammar allows next.
public struct TokenMask: Sendable, Equatable {
    /// 64 token ids per word, id `i` at bit `i % 64` of word `i / 64`.
    public private(set) var words: [UInt64]
    /// Ids are below this.
    public let count: Int

    /// The empty set over `count` ids.
    public init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    /// Whether `id` is in the set.
    public func contains(_ id: Int32) -> Bool {
        guard id >= 0, Int(id) < count else { return false }
        return words[Int(id) >> 6] & (1 << UInt64(id & 63)) != 0
    }

    /// Adds `id` (an id outside the set's range is ignored).
    public mutating func insert(_ id: Int32) {
        guard id >= 0, Int(id) < count else { return }
        words[Int(id) >> 6] |= 1 << UInt64(id & 63)
    }

    /// Removes `id`.
    public mutating func remove(_ id: Int32) {
        guard id >= 0, Int(id) < count else { return }
        words[Int(id) >> 6] &= ~(1 << UInt64(id & 63))
    }

    /// Adds every id of `other` (of the same count).
    public mutating func formUnion(_ other: TokenMask) {
        words.withUnsafeMutableBufferPointer { mine in
            other.words.withUnsafeBufferPointer { theirs in
                for i in mine.indices { mine[i] |= theirs[i] }
            }
        }
    }

    /// How many ids are in the set.
    public var population: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Whether no id is in the set.
    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }
}

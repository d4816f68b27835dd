/// Hands out KV cache block ids from a fixed pool and takes them back.
///
/// A value type without I/O: the caller owns the memory the ids refer to.
public struct KVBlockAllocator: Sendable {
    private var free: [Int32]
    /// Total number of blocks.
    public let capacity: Int

    /// A pool of `capacity` blocks, all free.
    public init(capacity: Int) {
        self.capacity = capacity
        free = (0 ..< Int32(capacity)).reversed()
    }

    /// Blocks not in use.
    public var freeCount: Int { free.count }

    /// Takes a free block, or nil when none is left.
    public mutating func allocate() -> Int32? { free.popLast() }

    /// Returns blocks to the pool.
    public mutating func release(_ blocks: some Sequence<Int32>) {
        free.append(contentsOf: blocks)
    }
}

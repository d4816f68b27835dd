/// The KV cache's blocks: who uses each one, and which full blocks can be reused by content
/// (automatic prefix caching).
///
/// A block is *free* (no content worth keeping), *used* (referenced by at least one sequence) or
/// *cached* (no longer referenced, but holding the keys and values of a known token prefix, kept in
/// least-recently-used order and reclaimed only when no free block is left). A full block is identified
/// by its tokens and the identity of the block before it, so two sequences share a block only when
/// their whole prefix up to and including that block is the same. Hits are verified token by token,
/// so a hash collision can never hand out the wrong keys and values.
///
/// A value type without I/O: the caller owns the memory the block ids refer to.
public struct KVBlockPool: Sendable {
    /// Tokens per block.
    public let blockSize: Int
    /// Total number of blocks.
    public let capacity: Int
    /// Whether full blocks are kept and shared by content.
    public let prefixCaching: Bool

    private var referenceCounts: [Int32]
    private var contents: [BlockContent?]
    private var generations: [UInt32]
    private var blockForHash: [UInt64: Int32] = [:]
    private var free: [Int32]
    private var evictable = LRUList()

    /// Tokens looked up in the prefix cache since creation.
    public private(set) var queriedTokens = 0
    /// Of those, tokens found cached.
    public private(set) var hitTokens = 0

    /// A pool of `capacity` free blocks of `blockSize` tokens.
    public init(capacity: Int, blockSize: Int, prefixCaching: Bool) {
        precondition(capacity >= 0 && blockSize > 0)
        self.capacity = capacity
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        referenceCounts = Array(repeating: 0, count: capacity)
        contents = Array(repeating: nil, count: capacity)
        generations = Array(repeating: 0, count: capacity)
        free = (0 ..< Int32(capacity)).reversed()
        evictable = LRUList(capacity: capacity)
    }

    /// Blocks referenced by at least one sequence.
    public var usedCount: Int { capacity - free.count - evictable.count }
    /// Blocks that can be handed out now (free plus cached).
    public var availableCount: Int { free.count + evictable.count }
    /// Unreferenced blocks that still hold a reusable prefix.
    public var cachedCount: Int { evictable.count }

    /// Takes a block for new content, reclaiming the least recently used cached block when no free one is
    /// left. Returns nil when every block is in use.
    public mutating func allocate() -> Int32? {
        let block: Int32
        if let b = free.popLast() {
            block = b
        } else if let b = evictable.popFirst() {
            forgetContent(of: b)
            block = b
        } else {
            return nil
        }
        referenceCounts[Int(block)] = 1
        return block
    }

    /// The cached blocks holding the longest prefix of `tokens` made of full blocks, each now referenced
    /// once more by the caller (release them like any other). Counts the lookup in the hit statistics.
    public mutating func acquireCachedPrefix(of tokens: ArraySlice<Int32>) -> [Int32] {
        guard prefixCaching else { return [] }
        queriedTokens += tokens.count
        var blocks: [Int32] = []
        var link = ParentLink.root
        var start = tokens.startIndex
        while start + blockSize <= tokens.endIndex {
            let content = tokens[start ..< start + blockSize]
            let hash = link.hash(appending: content)
            guard let block = blockForHash[hash], let cached = contents[Int(block)],
                  cached.parent == link, cached.tokens.elementsEqual(content)
            else { break }
            retain(block)
            blocks.append(block)
            link = ParentLink(block: block, generation: generations[Int(block)], hash: hash)
            start += blockSize
        }
        hitTokens += blocks.count * blockSize
        return blocks
    }

    /// Records the full blocks of a sequence (block table `table`, tokens `tokens` in the cache) so later
    /// sequences with the same prefix can share them. Blocks already recorded are left as they are.
    public mutating func registerFullBlocks(of table: [Int32], tokens: ArraySlice<Int32>) {
        guard prefixCaching else { return }
        var link = ParentLink.root
        for (index, block) in table.enumerated() {
            let start = tokens.startIndex + index * blockSize
            guard start + blockSize <= tokens.endIndex else { return }
            let content = tokens[start ..< start + blockSize]
            let hash = link.hash(appending: content)
            if contents[Int(block)] == nil, blockForHash[hash] == nil {
                blockForHash[hash] = block
                contents[Int(block)] = BlockContent(hash: hash, parent: link, tokens: Array(content))
            }
            link = ParentLink(block: block, generation: generations[Int(block)], hash: hash)
        }
    }

    /// Drops one reference to each of `blocks`. A block nobody references becomes cached when it holds a
    /// recorded prefix, else free.
    public mutating func release(_ blocks: some Sequence<Int32>) {
        for block in blocks {
            let i = Int(block)
            precondition(referenceCounts[i] > 0, "KV block \(block) released more often than taken")
            referenceCounts[i] -= 1
            guard referenceCounts[i] == 0 else { continue }
            if contents[i] != nil {
                evictable.append(block)
            } else {
                free.append(block)
            }
        }
    }

    /// How many sequences reference `block` (for tests and metrics).
    public func referenceCount(of block: Int32) -> Int { Int(referenceCounts[Int(block)]) }

    private mutating func retain(_ block: Int32) {
        let i = Int(block)
        if referenceCounts[i] == 0 { evictable.remove(block) }
        referenceCounts[i] += 1
    }

    /// Drops a reclaimed block's content. Bumping its generation orphans any cached block recorded as
    /// following it, so a later reuse of this id can never be mistaken for the old prefix.
    private mutating func forgetContent(of block: Int32) {
        let i = Int(block)
        if let content = contents[i], blockForHash[content.hash] == block { blockForHash[content.hash] = nil }
        contents[i] = nil
        generations[i] &+= 1
    }
}

/// What a cached block holds: its tokens and the exact block (and generation of that block id) before it.
struct BlockContent: Sendable {
    let hash: UInt64
    let parent: ParentLink
    let tokens: [Int32]
}

/// The block a block follows in a sequence, identified exactly (id and generation), plus the chained
/// hash of the whole prefix up to it for lookups.
struct ParentLink: Equatable, Sendable {
    let block: Int32
    let generation: UInt32
    let hash: UInt64

    static let root = ParentLink(block: -1, generation: 0, hash: 0x9E37_79B9_7F4A_7C15)

    /// The chained hash of this prefix followed by `tokens` (FNV-1a style mixing, 64 bits; hits are
    /// verified exactly, the hash only finds candidates).
    func hash(appending tokens: ArraySlice<Int32>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ hash
        for token in tokens {
            h ^= UInt64(UInt32(bitPattern: token))
            h = (h &* 0x0000_0100_0000_01B3) ^ (h >> 29)
        }
        return h
    }
}

/// An intrusive doubly linked list of block ids in least-recently-used order, O(1) for every operation.
struct LRUList: Sendable {
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private var member: [Bool] = []
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private(set) var count = 0

    init(capacity: Int = 0) {
        previous = Array(repeating: -1, count: capacity)
        next = Array(repeating: -1, count: capacity)
        member = Array(repeating: false, count: capacity)
    }

    /// Adds `block` as the most recently used.
    mutating func append(_ block: Int32) {
        let i = Int(block)
        precondition(!member[i])
        member[i] = true
        previous[i] = tail
        next[i] = -1
        if tail >= 0 { next[Int(tail)] = block } else { head = block }
        tail = block
        count += 1
    }

    /// Removes and returns the least recently used block.
    mutating func popFirst() -> Int32? {
        guard head >= 0 else { return nil }
        let block = head
        remove(block)
        return block
    }

    /// Removes `block` wherever it is.
    mutating func remove(_ block: Int32) {
        let i = Int(block)
        guard member[i] else { return }
        let p = previous[i], n = next[i]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { previous[Int(n)] = p } else { tail = p }
        member[i] = false
        count -= 1
    }
}

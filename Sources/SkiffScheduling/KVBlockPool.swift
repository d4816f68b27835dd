import SkiffHyperparameters

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
/// The cache's layers come in block groups (`CacheLayout.BlockGroup`: full attention, or one sliding
/// window), each with a block table per sequence, all drawing on this one pool. Group 0 anchors the prefix
/// cache: a block of another group is recorded against the group-0 block at the same index, so it is found
/// exactly when that one is.
///
/// A model with recurrent layers cannot resume from cached keys and values alone: it needs the state after
/// the prefix. With `snapshotCapacity` above 0 the pool also keeps up to that many state snapshots, each
/// recorded against the group-0 block that ends its prefix (so it is found exactly when that block is, and
/// dropped when that block's content is), reclaimed least recently used first; a cached prefix then ends at
/// the deepest block with a snapshot.
///
/// A value type without I/O: the caller owns the memory the block ids and snapshot indices refer to.
public struct KVBlockPool: Sendable {
    /// Tokens per block.
    public let blockSize: Int
    /// Total number of blocks.
    public let capacity: Int
    /// Whether full blocks are kept and shared by content.
    public let prefixCaching: Bool
    /// The cache's block groups; every sequence has a block table in each.
    public let groups: [CacheLayout.BlockGroup]
    /// State snapshots kept at most (0: the model keeps no recurrent state, or none is snapshotted).
    public let snapshotCapacity: Int

    private var referenceCounts: [Int32]
    private var contents: [BlockContent?]
    private var generations: [UInt32]
    private var blockForHash: [UInt64: Int32] = [:]
    private var free: [Int32]
    private var evictable = LRUList()
    /// The snapshot recorded against each group-0 block that has one, and the block of each snapshot index.
    private var snapshotOfBlock: [Int32: Int32] = [:]
    private var blockOfSnapshot: [Int32]
    private var freeSnapshots: [Int32]
    private var snapshotOrder: LRUList

    /// Tokens looked up in the prefix cache since creation.
    public private(set) var queriedTokens = 0
    /// Of those, tokens found cached.
    public private(set) var hitTokens = 0

    /// One block group of full attention: a model whose layers all attend to the whole context.
    public static let fullAttention = [CacheLayout.BlockGroup(window: nil, layers: [])]

    /// A pool of `capacity` free blocks of `blockSize` tokens for a cache of `groups`, keeping up to
    /// `snapshotCapacity` state snapshots of prefixes (for a model with recurrent layers, with prefix caching).
    public init(capacity: Int, blockSize: Int, prefixCaching: Bool, groups: [CacheLayout.BlockGroup] = fullAttention,
                snapshotCapacity: Int = 0) {
        precondition(capacity >= 0 && blockSize > 0 && !groups.isEmpty && snapshotCapacity >= 0)
        self.capacity = capacity
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        self.groups = groups
        self.snapshotCapacity = prefixCaching ? snapshotCapacity : 0
        blockOfSnapshot = Array(repeating: -1, count: self.snapshotCapacity)
        freeSnapshots = (0 ..< Int32(self.snapshotCapacity)).reversed()
        snapshotOrder = LRUList(capacity: self.snapshotCapacity)
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

    /// The longest sequence one sequence can hold with the whole pool to itself, steps computing at most
    /// `stepTokens` of its tokens.
    public func longestSequence(stepTokens: Int) -> Int {
        func fits(_ tokens: Int) -> Bool {
            groups.reduce(0) { $0 + $1.blocksHeld(tokens: tokens, blockSize: blockSize, stepTokens: stepTokens) } <= capacity
        }
        var (low, high) = (0, capacity * blockSize)
        while low < high {
            let middle = (low + high + 1) / 2
            if fits(middle) { low = middle } else { high = middle - 1 }
        }
        return low
    }

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

    /// The cached blocks holding the longest prefix of `tokens` made of full blocks that every group has
    /// (a sliding-window group only the blocks the next token attends to), each now referenced once more
    /// by the caller (release them like any other). Counts the lookup in the hit statistics.
    public mutating func acquireCachedPrefix(of tokens: ArraySlice<Int32>) -> CachedPrefix {
        var prefix = CachedPrefix(tables: Array(repeating: [], count: groups.count))
        guard prefixCaching else { return prefix }
        queriedTokens += tokens.count
        let links = cachedChain(of: tokens)
        // The other groups' blocks recorded against those.
        var found: [[Int32]] = [links.map(\.block)]
        for group in 1 ..< groups.count {
            found.append(links.map { link in
                guard let block = blockForHash[link.hash(group: group)], contents[Int(block)]?.parent == link else { return -1 }
                return block
            })
        }
        // The longest prefix every group has the blocks of, and with recurrent state, a snapshot of.
        var count = links.count
        while count > 0, !groups.indices.allSatisfy({ g in
            found[g][groups[g].firstBlockAttended(from: count * blockSize, blockSize: blockSize) ..< count].allSatisfy { $0 >= 0 }
        }) {
            count -= 1
        }
        prefix.sharedTokens = count * blockSize
        if snapshotCapacity > 0 {
            while count > 0, snapshotOfBlock[links[count - 1].block] == nil { count -= 1 }
            if count > 0, let snapshot = snapshotOfBlock[links[count - 1].block] {
                prefix.snapshot = snapshot
                snapshotOrder.remove(snapshot)
                snapshotOrder.append(snapshot)
            }
        }
        for g in groups.indices {
            let first = groups[g].firstBlockAttended(from: count * blockSize, blockSize: blockSize)
            prefix.tables[g] = Array(repeating: -1, count: first) + found[g][first ..< count]
            for block in found[g][first ..< count] { retain(block) }
        }
        prefix.tokens = count * blockSize
        if count > 0 { prefix.cursor = PrefixCursor(blocks: count, link: links[count - 1]) }
        hitTokens += prefix.tokens
        return prefix
    }

    /// Records a sequence's full blocks (block tables `tables`, one per group; tokens `tokens` in the cache)
    /// past `cursor`, so later sequences with the same prefix can share them, and moves the cursor past
    /// them. Blocks already recorded are left as they are.
    public mutating func registerFullBlocks(of tables: [[Int32]], tokens: ArraySlice<Int32>, cursor: inout PrefixCursor) {
        guard prefixCaching else { return }
        while cursor.blocks < tables[0].count {
            let start = tokens.startIndex + cursor.blocks * blockSize
            let anchor = tables[0][cursor.blocks]
            guard start + blockSize <= tokens.endIndex, anchor >= 0 else { return }
            let content = tokens[start ..< start + blockSize]
            let hash = cursor.link.hash(appending: content)
            record(anchor, as: BlockContent(hash: hash, parent: cursor.link, tokens: Array(content)))
            let link = ParentLink(block: anchor, generation: generations[Int(anchor)], hash: hash)
            for group in 1 ..< tables.count where cursor.blocks < tables[group].count && tables[group][cursor.blocks] >= 0 {
                record(tables[group][cursor.blocks], as: BlockContent(hash: link.hash(group: group), parent: link, tokens: []))
            }
            cursor = PrefixCursor(blocks: cursor.blocks + 1, link: link)
        }
    }

    /// Group 0's cached blocks holding the longest prefix of `tokens` in full blocks, each verified against its
    /// parent and tokens.
    private func cachedChain(of tokens: ArraySlice<Int32>) -> [ParentLink] {
        var links: [ParentLink] = []
        var start = tokens.startIndex
        while start + blockSize <= tokens.endIndex {
            let content = tokens[start ..< start + blockSize]
            let parent = links.last ?? .root
            let hash = parent.hash(appending: content)
            guard let block = blockForHash[hash], let cached = contents[Int(block)],
                  cached.parent == parent, cached.tokens.elementsEqual(content)
            else { break }
            links.append(ParentLink(block: block, generation: generations[Int(block)], hash: hash))
            start += blockSize
        }
        return links
    }

    /// Takes a snapshot index for the state after `prefix` (whole blocks, every one recorded in the prefix
    /// cache, by this sequence or an earlier one), reclaiming the least recently used snapshot when none is
    /// free. Returns nil when snapshots are off, a block of the prefix is not recorded, or the prefix has a
    /// snapshot already.
    public mutating func recordSnapshot(of prefix: ArraySlice<Int32>) -> Int32? {
        guard snapshotCapacity > 0, !prefix.isEmpty, prefix.count % blockSize == 0 else { return nil }
        let links = cachedChain(of: prefix)
        guard links.count == prefix.count / blockSize, let block = links.last?.block, snapshotOfBlock[block] == nil else { return nil }
        let snapshot: Int32
        if let s = freeSnapshots.popLast() {
            snapshot = s
        } else if let s = snapshotOrder.popFirst() {
            snapshotOfBlock[blockOfSnapshot[Int(s)]] = nil
            snapshot = s
        } else {
            return nil
        }
        snapshotOfBlock[block] = snapshot
        blockOfSnapshot[Int(snapshot)] = block
        snapshotOrder.append(snapshot)
        return snapshot
    }

    /// Snapshots held.
    public var snapshotCount: Int { snapshotOrder.count }

    private mutating func record(_ block: Int32, as content: BlockContent) {
        guard contents[Int(block)] == nil, blockForHash[content.hash] == nil else { return }
        blockForHash[content.hash] = block
        contents[Int(block)] = content
    }

    /// Drops one reference to each of `blocks` (-1 entries, blocks a window let go, are skipped). A block
    /// nobody references becomes cached when it holds a recorded prefix, else free.
    public mutating func release(_ blocks: some Sequence<Int32>) {
        for block in blocks where block >= 0 {
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
        if let snapshot = snapshotOfBlock.removeValue(forKey: block) {
            snapshotOrder.remove(snapshot)
            blockOfSnapshot[Int(snapshot)] = -1
            freeSnapshots.append(snapshot)
        }
    }
}

/// A prefix found in the cache: the blocks a sequence starts with, in each group.
public struct CachedPrefix: Sendable, Equatable {
    /// Per group, the sequence's block table: -1 where a sliding window does not need the block.
    public var tables: [[Int32]]
    /// Tokens the blocks hold (with recurrent state: up to the deepest snapshot).
    public var tokens = 0
    /// Tokens of the longest cached prefix, snapshot or not (where a new snapshot would serve the next
    /// sequence sharing it).
    public var sharedTokens = 0
    /// The snapshot of the state after `tokens`, when the pool keeps snapshots and found one.
    public var snapshot: Int32?
    /// How far the sequence's blocks are recorded.
    public var cursor = PrefixCursor()
}

/// How far a sequence's full blocks are recorded in the prefix cache: how many, and the identity of the
/// last one in group 0 (the parent of the next).
public struct PrefixCursor: Sendable, Equatable {
    /// Full blocks recorded (or found recorded).
    public internal(set) var blocks = 0
    var link = ParentLink.root

    /// Nothing recorded yet.
    public init() {}

    init(blocks: Int, link: ParentLink) {
        self.blocks = blocks
        self.link = link
    }
}

/// What a cached block holds: its tokens (none for a block of a group other than 0, which its group-0
/// parent at the same index identifies) and the exact block (and generation of that block id) before it.
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

    /// The key under which group `group`'s block at the same index as this group-0 block is recorded.
    func hash(group: Int) -> UInt64 {
        (hash ^ UInt64(group)) &* 0x9E37_79B9_7F4A_7C15
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

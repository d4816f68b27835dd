/// One sequence's blocks in each group of a `KVBlockPool`: its block tables, which blocks a sliding window
/// has let go, and how far its full blocks are recorded in the prefix cache.
///
/// Under full attention a sequence keeps a block for each `blockSize` tokens. Under a sliding window it
/// keeps only the blocks its next token attends to (and those a step's tokens write): the blocks before
/// are released as soon as they are computed past, their entries left -1.
public struct SequenceBlocks: Sendable, Equatable {
    /// Per group, the block holding positions `i × blockSize ..< (i + 1) × blockSize` at index `i`; -1
    /// where a sliding window let the block go.
    public private(set) var tables: [[Int32]]
    /// Per group, blocks before this index have been let go.
    private var firstHeld: [Int]
    private var cursor = PrefixCursor()

    /// No blocks yet, in each of `pool`'s groups.
    public init(in pool: KVBlockPool) {
        tables = Array(repeating: [], count: pool.groups.count)
        firstHeld = Array(repeating: 0, count: pool.groups.count)
    }

    /// Whether the sequence holds no block.
    public var isEmpty: Bool { tables.allSatisfy { $0.allSatisfy { $0 < 0 } } }

    /// Takes the cached blocks of the longest prefix of `tokens` the pool holds (none unless the sequence
    /// holds nothing yet) and returns what was found: the tokens they hold, and with recurrent state the
    /// snapshot to start from.
    public mutating func acquireCachedPrefix(of tokens: ArraySlice<Int32>, from pool: inout KVBlockPool) -> CachedPrefix {
        precondition(isEmpty, "a cached prefix is taken before a sequence holds any block")
        let prefix = pool.acquireCachedPrefix(of: tokens)
        tables = prefix.tables
        firstHeld = pool.groups.map { $0.firstBlockAttended(from: prefix.tokens, blockSize: pool.blockSize) }
        cursor = prefix.cursor
        return prefix
    }

    /// Makes sure the sequence has the blocks that computing positions `start ..< end` writes and reads.
    /// Returns false when the pool ran dry (the blocks taken so far stay with the sequence).
    public mutating func reserve(from start: Int, to end: Int, in pool: inout KVBlockPool) -> Bool {
        for g in tables.indices {
            let first = pool.groups[g].firstBlockAttended(from: start, blockSize: pool.blockSize)
            precondition(first >= firstHeld[g], "position \(start) attends to blocks its sliding window let go")
            while tables[g].count < first { tables[g].append(-1) }
            firstHeld[g] = max(firstHeld[g], first)
            while tables[g].count * pool.blockSize < end {
                guard let block = pool.allocate() else { return false }
                tables[g].append(block)
            }
        }
        return true
    }

    /// Records that the first `computed` of `tokens` are in the cache: their full blocks go into the prefix
    /// cache, then the blocks no position from `computed` on attends to are let go.
    public mutating func didCompute(_ computed: Int, of tokens: ArraySlice<Int32>, in pool: inout KVBlockPool) {
        pool.registerFullBlocks(of: tables, tokens: tokens[..<(tokens.startIndex + computed)], cursor: &cursor)
        for g in tables.indices {
            let first = min(pool.groups[g].firstBlockAttended(from: computed, blockSize: pool.blockSize), tables[g].count)
            guard first > firstHeld[g] else { continue }
            pool.release(tables[g][firstHeld[g] ..< first])
            for i in firstHeld[g] ..< first { tables[g][i] = -1 }
            firstHeld[g] = first
        }
    }

    /// Keeps the blocks of the first `count` tokens at most and releases the rest, in a pool without prefix
    /// caching (a kept block is written again). Returns the tokens kept: `count`, or 0 when a sliding window
    /// has let go of blocks a position from `count` on attends to.
    public mutating func truncate(to count: Int, in pool: inout KVBlockPool) -> Int {
        precondition(!pool.prefixCaching, "blocks of a prefix-caching pool are never written again")
        let kept = (count + pool.blockSize - 1) / pool.blockSize
        let keepable = pool.groups.indices.allSatisfy { g in
            pool.groups[g].firstBlockAttended(from: count, blockSize: pool.blockSize) >= firstHeld[g]
        }
        guard keepable, count > 0 else {
            release(to: &pool)
            return 0
        }
        for g in tables.indices where tables[g].count > kept {
            pool.release(tables[g][kept...])
            tables[g].removeLast(tables[g].count - kept)
        }
        return count
    }

    /// Releases every block the sequence holds.
    public mutating func release(to pool: inout KVBlockPool) {
        for table in tables { pool.release(table) }
        self = SequenceBlocks(in: pool)
    }
}

import SkiffScheduling
import Testing

@Suite struct KVBlockPoolTests {
    let tokens: [Int32] = Array(1 ... 40)

    /// Blocks for a sequence of `tokens`, all newly allocated.
    func allocateTable(_ pool: inout KVBlockPool, for tokens: [Int32]) -> [Int32] {
        (0 ..< (tokens.count + pool.blockSize - 1) / pool.blockSize).map { _ in pool.allocate()! }
    }

    /// Records the full blocks of a one-group table from the start.
    func register(_ table: [Int32], _ tokens: ArraySlice<Int32>, in pool: inout KVBlockPool) {
        var cursor = PrefixCursor()
        pool.registerFullBlocks(of: [table], tokens: tokens, cursor: &cursor)
    }

    @Test func allocatesUntilExhaustedAndReusesReleasedBlocks() {
        var pool = KVBlockPool(capacity: 3, blockSize: 16, prefixCaching: false)
        let taken = (0 ..< 3).compactMap { _ in pool.allocate() }
        #expect(Set(taken).count == 3)
        #expect(pool.allocate() == nil)
        #expect(pool.usedCount == 3 && pool.availableCount == 0)
        pool.release([taken[1]])
        #expect(pool.allocate() == taken[1])
        pool.release(taken)
        #expect(pool.usedCount == 0 && pool.availableCount == 3)
    }

    @Test func sharesFullBlocksOfTheSamePrefix() {
        var pool = KVBlockPool(capacity: 8, blockSize: 16, prefixCaching: true)
        let first = allocateTable(&pool, for: tokens)
        register(first, tokens[...], in: &pool)
        pool.release(first)
        #expect(pool.cachedCount == 2)

        // Same 40 tokens: the two full blocks are found, the partial third is not.
        let hit = pool.acquireCachedPrefix(of: tokens[...]).tables[0]
        #expect(hit == Array(first.prefix(2)))
        #expect(pool.hitTokens == 32 && pool.queriedTokens == 40)
        #expect(pool.cachedCount == 0 && pool.usedCount == 2)

        // A second sequence shares them; each release drops one reference.
        let again = pool.acquireCachedPrefix(of: tokens[..<35]).tables[0]
        #expect(again == hit)
        #expect(pool.referenceCount(of: hit[0]) == 2)
        pool.release(again)
        #expect(pool.referenceCount(of: hit[0]) == 1 && pool.usedCount == 2)
        pool.release(hit)
        #expect(pool.cachedCount == 2)
    }

    @Test func aBlockIsSharedOnlyAfterTheSamePrefix() {
        var pool = KVBlockPool(capacity: 8, blockSize: 16, prefixCaching: true)
        let table = allocateTable(&pool, for: tokens)
        register(table, tokens[...], in: &pool)
        pool.release(table)
        var other = tokens
        other[0] = 999
        // The second block's tokens are identical, but what came before differs: no hit at all.
        #expect(pool.acquireCachedPrefix(of: other[...]).tokens == 0)
        // A change inside the second block keeps the first.
        var tail = tokens
        tail[20] = 999
        let hit = pool.acquireCachedPrefix(of: tail[...]).tables[0]
        #expect(hit == [table[0]])
        pool.release(hit)
    }

    @Test func evictsTheLeastRecentlyUsedCachedBlockAndItsDescendants() {
        var pool = KVBlockPool(capacity: 2, blockSize: 16, prefixCaching: true)
        let table = allocateTable(&pool, for: Array(tokens.prefix(32)))
        register(table, tokens[..<32], in: &pool)
        pool.release(table)
        #expect(pool.availableCount == 2)
        // No free block left: the oldest cached one (the first block) is reclaimed.
        let reused = pool.allocate()
        #expect(reused == table[0])
        #expect(pool.acquireCachedPrefix(of: tokens[..<32]).tokens == 0)
        // Even if that id is filled with the same first block again, the old second block is not trusted.
        register([table[0]], tokens[..<16], in: &pool)
        let hit = pool.acquireCachedPrefix(of: tokens[..<32]).tables[0]
        #expect(hit == [table[0]])
        #expect(pool.referenceCount(of: table[0]) == 2)
    }

    @Test func withoutPrefixCachingNothingIsKept() {
        var pool = KVBlockPool(capacity: 4, blockSize: 16, prefixCaching: false)
        let table = allocateTable(&pool, for: tokens)
        register(table, tokens[...], in: &pool)
        pool.release(table)
        #expect(pool.cachedCount == 0)
        #expect(pool.acquireCachedPrefix(of: tokens[...]).tokens == 0)
        #expect(pool.queriedTokens == 0)
    }

    /// Random workloads keep the books balanced: used + available = capacity, references never negative.
    @Test func randomWorkloadKeepsTheBooksBalanced() {
        var pool = KVBlockPool(capacity: 24, blockSize: 4, prefixCaching: true)
        var live: [[Int32]] = []
        var generator = SystemRandomNumberGenerator()
        let prompts: [[Int32]] = (0 ..< 5).map { p in (0 ..< 13).map { Int32(p < 3 ? $0 : $0 + p * 100) } }
        for _ in 0 ..< 2000 {
            if Bool.random(using: &generator) || live.isEmpty {
                let prompt = prompts.randomElement(using: &generator)!
                var table = pool.acquireCachedPrefix(of: prompt[..<(prompt.count - 1)]).tables[0]
                var ok = true
                while table.count * 4 < prompt.count {
                    guard let b = pool.allocate() else { ok = false; break }
                    table.append(b)
                }
                if ok {
                    register(table, prompt[...], in: &pool)
                    live.append(table)
                } else {
                    pool.release(table)
                }
            } else {
                pool.release(live.remove(at: Int.random(in: 0 ..< live.count, using: &generator)))
            }
            #expect(pool.usedCount + pool.availableCount == pool.capacity)
            #expect(pool.usedCount == Set(live.flatMap { $0 }).count)
        }
        #expect(pool.hitTokens > 0)
    }
}

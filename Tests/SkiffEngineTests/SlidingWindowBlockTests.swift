import SkiffScheduling
import SkiffHyperparameters
import Testing

/// Block groups: sliding-window layers keep only the blocks their window needs, drawing on the pool the
/// full-attention layers share; the prefix cache finds both.
@Suite struct SlidingWindowBlockTests {
    typealias Group = CacheLayout.BlockGroup

    static func attention(_ window: Int?) -> CacheLayout.Layer {
        .attention(kvHeads: 1, keyLength: 16, valueLength: 16, window: window)
    }

    /// One full-attention group and one with a window of 20 tokens, blocks of 4 tokens.
    static let groups = [Group(window: nil, layers: [1]), Group(window: 20, layers: [0])]

    @Test func layersOfOneKindShareGroupsOfEqualSize() {
        // Gemma 3 270M: 18 layers, every sixth global.
        let gemma = CacheLayout(layers: (0 ..< 18).map { Self.attention(($0 + 1) % 6 == 0 ? nil : 512) })
        #expect(gemma.blockGroups.map(\.window) == [nil, 512, 512, 512, 512, 512])
        #expect(gemma.blockGroups.map(\.layers) == [[5, 11, 17], [0, 1, 2], [3, 4, 6], [7, 8, 9], [10, 12, 13], [14, 15, 16]])
        #expect(gemma.kvElementsPerBlockToken == 3 * 32)
        // 4 global and 22 sliding layers (Gemma 3 1B): groups of 2.
        let gemma1B = CacheLayout(layers: (0 ..< 26).map { Self.attention(($0 + 1) % 6 == 0 ? nil : 512) })
        #expect(gemma1B.blockGroups.count == 13 && gemma1B.blockGroups.allSatisfy { $0.layers.count == 2 })
        // One kind: one group of every layer, windowed or not.
        let mistral = CacheLayout(layers: (0 ..< 4).map { _ in Self.attention(4096) })
        #expect(mistral.blockGroups == [Group(window: 4096, layers: [0, 1, 2, 3])])
        let llama = CacheLayout(layers: (0 ..< 30).map { _ in Self.attention(nil) })
        #expect(llama.blockGroups == [Group(window: nil, layers: Array(0 ..< 30))])
    }

    @Test func aWindowHoldsItsBlocksAndOneStepsTokens() {
        let window = Group(window: 512, layers: [0])
        // Position 512 attends to 1 ... 512: block 0 is no longer needed, block 1 (16 ... 31) still is.
        #expect(window.firstBlockAttended(from: 511, blockSize: 16) == 0)
        #expect(window.firstBlockAttended(from: 512, blockSize: 16) == 0)
        #expect(window.firstBlockAttended(from: 527, blockSize: 16) == 1)
        #expect(Group(window: nil, layers: [0]).firstBlockAttended(from: 10_000, blockSize: 16) == 0)
        // Decoding at a block's first position spans 33 blocks of 16; a 512-token step 64 more.
        #expect(window.blocksHeld(tokens: 32768, blockSize: 16, stepTokens: 1) == 33)
        #expect(window.blocksHeld(tokens: 32768, blockSize: 16, stepTokens: 512) == 65)
        #expect(window.blocksHeld(tokens: 100, blockSize: 16, stepTokens: 512) == 7)
        let gemma = CacheLayout(layers: (0 ..< 18).map { Self.attention(($0 + 1) % 6 == 0 ? nil : 512) })
        #expect(gemma.blocksPerSequence(tokens: 32768, blockSize: 16, stepTokens: 512) == 2048 + 5 * 65)
    }

    @Test func blocksBehindTheWindowAreReleasedAsTheSequenceMovesOn() {
        var pool = KVBlockPool(capacity: 40, blockSize: 4, prefixCaching: false, groups: Self.groups)
        var blocks = SequenceBlocks(in: pool)
        let tokens: [Int32] = Array(0 ..< 64)
        // A 24-token step: 6 blocks in each group.
        #expect(blocks.reserve(from: 0, to: 24, in: &pool))
        #expect(blocks.tables.map(\.count) == [6, 6] && pool.usedCount == 12)
        // Position 24 attends to 5 ... 24: the window group lets block 0 (0 ... 3) go.
        blocks.didCompute(24, of: tokens[..<24], in: &pool)
        #expect(blocks.tables[1].prefix(2).map { $0 >= 0 } == [false, true])
        #expect(pool.usedCount == 11)
        // Decoding one token at a time to 64: the window group holds 6 blocks at most, the other all 16.
        for position in 24 ..< 64 {
            #expect(blocks.reserve(from: position, to: position + 1, in: &pool))
            #expect(blocks.tables[1].filter { $0 >= 0 }.count <= 6)
            blocks.didCompute(position + 1, of: tokens[..<(position + 1)], in: &pool)
        }
        #expect(blocks.tables[0].allSatisfy { $0 >= 0 } && blocks.tables[0].count == 16)
        #expect(blocks.tables[1].filter { $0 >= 0 }.count == 5)
        #expect(pool.usedCount == 21)
        blocks.release(to: &pool)
        #expect(pool.usedCount == 0 && blocks.isEmpty)
    }

    @Test func truncatingKeepsWhatTheWindowStillHolds() {
        var pool = KVBlockPool(capacity: 40, blockSize: 4, prefixCaching: false, groups: Self.groups)
        var blocks = SequenceBlocks(in: pool)
        let tokens: [Int32] = Array(0 ..< 48)
        #expect(blocks.reserve(from: 0, to: 48, in: &pool))
        blocks.didCompute(48, of: tokens[...], in: &pool)
        // Position 47 attends to 28 ... 47, blocks 7 on, all held.
        #expect(blocks.truncate(to: 47, in: &pool) == 47)
        #expect(blocks.tables.map(\.count) == [12, 12])
        // Position 40 would attend to block 5, which the window let go: nothing is kept.
        #expect(blocks.truncate(to: 40, in: &pool) == 0)
        #expect(pool.usedCount == 0)
    }

    @Test func thePrefixCacheFindsEveryGroupsBlocks() {
        var pool = KVBlockPool(capacity: 24, blockSize: 4, prefixCaching: true, groups: Self.groups)
        let tokens: [Int32] = Array(100 ..< 141)
        var first = SequenceBlocks(in: pool)
        #expect(blocks(&first, compute: tokens, in: &pool))
        first.release(to: &pool)
        // Ten full blocks in each group are cached; the window group's first ones were released (and cached)
        // while the sequence ran, the oldest of all.
        #expect(pool.usedCount == 0 && pool.cachedCount == 20)

        // The same 41 tokens: 10 full blocks; the window group brings the 5 that position 40 attends to.
        var second = SequenceBlocks(in: pool)
        #expect(second.acquireCachedPrefix(of: tokens[..<40], from: &pool).tokens == 40)
        #expect(second.tables[0].count == 10 && second.tables[0].allSatisfy { $0 >= 0 })
        #expect(second.tables[1].map { $0 >= 0 } == Array(repeating: false, count: 5) + Array(repeating: true, count: 5))
        #expect(pool.hitTokens == 40)

        // A prompt that differs in its 31st token: 7 blocks, the window group's 2 ... 6 still cached.
        var changed = tokens
        changed[30] = 0
        var third = SequenceBlocks(in: pool)
        #expect(third.acquireCachedPrefix(of: changed[..<40], from: &pool).tokens == 28)
        #expect(third.tables[1].map { $0 >= 0 } == [false, false, true, true, true, true, true])
        third.release(to: &pool)

        // Reclaiming the three oldest cached blocks (the window group's 0 ... 2) leaves the full group's
        // seven, but no prefix the window group has all the blocks of.
        let taken = (0 ..< pool.availableCount - 2).compactMap { _ in pool.allocate() }
        var fourth = SequenceBlocks(in: pool)
        #expect(fourth.acquireCachedPrefix(of: changed[..<40], from: &pool).tokens == 0)
        pool.release(taken)
        second.release(to: &pool)
        #expect(pool.usedCount == 0)
    }

    /// Computes `tokens` in 4-token steps, as the scheduler would; false when the pool runs dry.
    func blocks(_ blocks: inout SequenceBlocks, compute tokens: [Int32], in pool: inout KVBlockPool) -> Bool {
        var computed = 0
        while computed < tokens.count {
            let end = min(computed + 4, tokens.count)
            guard blocks.reserve(from: computed, to: end, in: &pool) else { return false }
            computed = end
            blocks.didCompute(computed, of: tokens[...], in: &pool)
        }
        return true
    }

    @Test func aSchedulerFitsLongSequencesAtTheWindowsCost() throws {
        // 17 blocks of 4: a 40-token sequence needs 10 in the full group and 7 in the window group (its
        // 20 tokens and a step's 4); at full length in both it would not fit.
        let pool = KVBlockPool(capacity: 17, blockSize: 4, prefixCaching: false, groups: Self.groups)
        #expect(pool.longestSequence(stepTokens: 4) == 40)
        var s = Scheduler(configuration: .init(maxStepTokens: 4, maxRunning: 1, maxWaiting: 1, contextLength: 64),
                          blocks: pool)
        let id = try s.add(prompt: Array(0 ..< 30)).get()
        while (s.tokens(of: id)?.count ?? 0) < 40 {
            let plan = s.schedule()
            #expect(plan.preempted.isEmpty)
            s.commit(plan)
            for work in plan.work where work.wantsLogits {
                let appended = s.append(1, to: work.sequence)
                #expect(appended)
            }
        }
        // Position 39 computed next: 10 blocks in the full group, the window group's 5 ... 9.
        #expect(s.blocks.usedCount == 15)
        s.finish(id)
        #expect(s.blocks.usedCount == 0 && s.blocks.availableCount == 17)
    }
}

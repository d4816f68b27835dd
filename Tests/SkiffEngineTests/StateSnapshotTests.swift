import SkiffScheduling
import Testing

/// The scheduler's state snapshots for models with recurrent layers: where a prompt's state is kept, how a
/// chunk is cut to reach that point, and how a later prompt sharing the prefix starts from it.
@Suite struct StateSnapshotTests {
    func scheduler(step: Int = 64, snapshots: Int = 4, blocks: Int = 64) -> Scheduler {
        Scheduler(configuration: .init(maxStepTokens: step, maxRunning: 4, maxWaiting: 8, contextLength: 512),
                  blocks: KVBlockPool(capacity: blocks, blockSize: 16, prefixCaching: true, snapshotCapacity: snapshots))
    }

    /// A 32-token shared prefix (a system prompt) and a tail of its own.
    func prompt(tail: Int32, length: Int = 42) -> [Int32] { (0 ..< 32).map { Int32($0) } + (32 ..< length).map { Int32($0) * 100 + tail } }

    @Test func aPromptsStateIsKeptAtItsLastFullBlockAndAPromptSharingItStartsThere() throws {
        var s = scheduler()
        let a = try s.add(prompt: prompt(tail: 1)).get()
        // The chunk is cut at the last full block (32 of 42 tokens), whose state is then kept.
        let first = s.schedule()
        #expect(first.work == [Scheduler.Work(sequence: a, start: 0, count: 32, wantsLogits: false)])
        #expect(first.restores.isEmpty)
        #expect(s.commit(first) == [Scheduler.StateCopy(sequence: a, snapshot: 0)])
        #expect(s.blocks.snapshotCount == 1)
        s.commit(s.schedule())

        // A prompt sharing the 32 tokens starts from the snapshot.
        let b = try s.add(prompt: prompt(tail: 2, length: 50)).get()
        let plan = s.schedule()
        #expect(plan.restores == [Scheduler.StateCopy(sequence: b, snapshot: 0)])
        #expect(plan.work.first { $0.sequence == b }?.start == 32)
        // Its own last full block (48) is kept too.
        #expect(plan.work.first { $0.sequence == b }?.count == 16)
        #expect(s.commit(plan) == [Scheduler.StateCopy(sequence: b, snapshot: 1)])
    }

    /// The first prompt's last full block lies past the shared prefix, so nothing is kept where the second
    /// one parts from it; the second keeps its state there, and the third starts from it.
    @Test func whereTwoPromptsPartIsKeptForTheThird() throws {
        var s = scheduler()
        let a = try s.add(prompt: prompt(tail: 1, length: 60)).get()
        let first = s.schedule()
        #expect(first.work.first?.count == 48)
        #expect(s.commit(first).map(\.sequence) == [a])
        s.commit(s.schedule())

        let b = try s.add(prompt: prompt(tail: 2, length: 60)).get()
        let second = s.schedule()
        #expect(second.restores.isEmpty)
        #expect(second.work.first { $0.sequence == b } == Scheduler.Work(sequence: b, start: 0, count: 32, wantsLogits: false))
        #expect(s.commit(second) == [Scheduler.StateCopy(sequence: b, snapshot: 1)])

        let c = try s.add(prompt: prompt(tail: 3, length: 60)).get()
        var third = s.schedule()
        while !third.work.contains(where: { $0.sequence == c }) {
            s.commit(third)
            third = s.schedule()
        }
        #expect(third.restores == [Scheduler.StateCopy(sequence: c, snapshot: 1)])
        #expect(third.work.first { $0.sequence == c }?.start == 32)
    }

    /// When every snapshot is taken, the least recently used one is reclaimed; without snapshots a prefix of
    /// blocks alone is no start for a recurrent state.
    @Test func snapshotsAreReclaimedLeastRecentlyUsedFirst() throws {
        var s = scheduler(snapshots: 1)
        _ = try s.add(prompt: prompt(tail: 1)).get()
        #expect(s.commit(s.schedule()).map(\.snapshot) == [0])
        s.commit(s.schedule())
        let other = try s.add(prompt: (0 ..< 42).map { Int32($0) + 5000 }).get()
        let plan = s.schedule()
        #expect(plan.restores.isEmpty && plan.work.first { $0.sequence == other }?.start == 0)
        // The second prompt's snapshot takes the only index; the first prompt's prefix has none now.
        #expect(s.commit(plan).map(\.snapshot) == [0])
        let again = try s.add(prompt: prompt(tail: 9)).get()
        var next = s.schedule()
        while !next.work.contains(where: { $0.sequence == again }) {
            s.commit(next)
            next = s.schedule()
        }
        #expect(next.restores.isEmpty)
        #expect(next.work.first { $0.sequence == again }?.start == 0)
    }
}

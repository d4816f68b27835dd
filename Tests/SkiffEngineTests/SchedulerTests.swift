import SkiffScheduling
import Testing

@Suite struct SchedulerTests {
    typealias Work = Scheduler.Work

    func scheduler(blocks: Int = 64, step: Int = 16, running: Int = 8, waiting: Int = 8, context: Int = 512,
                   prefixCaching: Bool = true) -> Scheduler {
        Scheduler(configuration: .init(maxStepTokens: step, maxRunning: running, maxWaiting: waiting, contextLength: context),
                  blocks: KVBlockPool(capacity: blocks, blockSize: 16, prefixCaching: prefixCaching))
    }

    func prompt(_ count: Int, offset: Int32 = 0) -> [Int32] { (0 ..< Int32(count)).map { $0 + offset } }

    /// Runs one step: plan, commit, and append `next` to every sequence whose logits were computed.
    @discardableResult
    func step(_ s: inout Scheduler, next: Int32 = 7) -> Scheduler.StepPlan {
        let plan = s.schedule()
        s.commit(plan)
        for work in plan.work where work.wantsLogits { _ = s.append(next, to: work.sequence) }
        return plan
    }

    @Test func longPromptsArePrefilledInChunks() throws {
        var s = scheduler(step: 16)
        let id = try s.add(prompt: prompt(40)).get()
        #expect(step(&s).work == [Work(sequence: id, start: 0, count: 16, wantsLogits: false)])
        #expect(step(&s).work == [Work(sequence: id, start: 16, count: 16, wantsLogits: false)])
        #expect(step(&s).work == [Work(sequence: id, start: 32, count: 8, wantsLogits: true)])
        #expect(step(&s).work == [Work(sequence: id, start: 40, count: 1, wantsLogits: true)])
        #expect(s.tokens(of: id)?.count == 42)
        #expect(s.blockTables(of: id)?[0].count == 3)
    }

    @Test func decodesGoFirstAndPromptsTakeTheRestOfTheBudget() throws {
        var s = scheduler(step: 16)
        let a = try s.add(prompt: prompt(10)).get()
        step(&s)
        let b = try s.add(prompt: prompt(40, offset: 100)).get()
        let plan = step(&s)
        #expect(plan.work == [Work(sequence: a, start: 10, count: 1, wantsLogits: true),
                              Work(sequence: b, start: 0, count: 15, wantsLogits: false)])
        let next = step(&s)
        #expect(next.work.first == Work(sequence: a, start: 11, count: 1, wantsLogits: true))
        #expect(next.work.last == Work(sequence: b, start: 15, count: 15, wantsLogits: false))
    }

    @Test func refusesWhatCanNeverRunOrDoesNotFit() {
        var s = scheduler(blocks: 4, waiting: 2, context: 128)
        let empty = s.add(prompt: [])
        #expect(empty == .failure(.emptyPrompt))
        let overContext = s.add(prompt: prompt(128))
        #expect(overContext == .failure(.promptTooLong(tokens: 128, limit: 63)))
        let overCache = s.add(prompt: prompt(64))
        #expect(overCache == .failure(.promptTooLong(tokens: 64, limit: 63)))
        _ = s.add(prompt: prompt(5))
        _ = s.add(prompt: prompt(5))
        let full = s.add(prompt: prompt(5))
        #expect(full == .failure(.queueFull))
        #expect(s.waitingCount == 2)
    }

    @Test func runningSequencesAreCapped() throws {
        var s = scheduler(step: 64, running: 2)
        let ids = try (0 ..< 3).map { _ in try s.add(prompt: prompt(4)).get() }
        let plan = step(&s)
        #expect(plan.work.map(\.sequence) == Array(ids.prefix(2)))
        #expect(s.runningCount == 2 && s.waitingCount == 1)
        s.finish(ids[0])
        #expect(step(&s).work.map(\.sequence) == [ids[1], ids[2]])
    }

    @Test func sharedPromptsReuseCachedBlocks() throws {
        var s = scheduler(step: 64)
        let a = try s.add(prompt: prompt(40)).get()
        step(&s)
        let b = try s.add(prompt: prompt(40)).get()
        let plan = step(&s)
        // b starts after the two full blocks a computed; the partial third block is computed again.
        #expect(plan.work.last == Work(sequence: b, start: 32, count: 8, wantsLogits: true))
        #expect(s.blockTables(of: a)?[0].prefix(2) == s.blockTables(of: b)?[0].prefix(2))
        #expect(s.blocks.hitTokens == 32)
        // The last token is always computed, even when the whole prompt is cached.
        s.finish(a)
        s.finish(b)
        let c = try s.add(prompt: prompt(32)).get()
        #expect(step(&s).work == [Work(sequence: c, start: 16, count: 16, wantsLogits: true)])
    }

    @Test func aPromptWaitsForItsPrefixBeingComputed() throws {
        var s = scheduler(step: 64)
        let a = try s.add(prompt: prompt(40)).get()
        let b = try s.add(prompt: prompt(40)).get()
        let other = try s.add(prompt: prompt(10, offset: 500)).get()
        // a computes the two full blocks b begins with: b waits for them (and the queue behind it).
        #expect(step(&s).work == [Work(sequence: a, start: 0, count: 40, wantsLogits: true)])
        #expect(s.waitingCount == 2)
        // Then b computes only its partial last block.
        #expect(step(&s).work == [Work(sequence: a, start: 40, count: 1, wantsLogits: true),
                                  Work(sequence: b, start: 32, count: 8, wantsLogits: true),
                                  Work(sequence: other, start: 0, count: 10, wantsLogits: true)])
        #expect(s.blocks.hitTokens == 32)
    }

    @Test func aPromptSharingLessThanABlockDoesNotWait() throws {
        var s = scheduler(step: 64)
        let a = try s.add(prompt: prompt(40)).get()
        let b = try s.add(prompt: prompt(15) + prompt(25, offset: 900)).get()
        #expect(step(&s).work == [Work(sequence: a, start: 0, count: 40, wantsLogits: true),
                                  Work(sequence: b, start: 0, count: 24, wantsLogits: false)])
    }

    @Test func aPromptThatCanGetFurtherNowDoesNotWait() throws {
        var s = scheduler(step: 64)
        let a = try s.add(prompt: prompt(20)).get()
        let b = try s.add(prompt: prompt(40)).get()
        // b shares one block in flight, but the 44 tokens left in the step take it past that block.
        #expect(step(&s).work == [Work(sequence: a, start: 0, count: 20, wantsLogits: true),
                                  Work(sequence: b, start: 0, count: 40, wantsLogits: true)])
    }

    @Test func withoutPrefixCachingEveryPromptIsComputed() throws {
        var s = scheduler(step: 64, prefixCaching: false)
        _ = try s.add(prompt: prompt(40)).get()
        step(&s)
        let b = try s.add(prompt: prompt(40)).get()
        #expect(step(&s).work.last == Work(sequence: b, start: 0, count: 40, wantsLogits: true))
        // Nor does a prompt wait for another's blocks: they would not be shared.
        _ = try s.add(prompt: prompt(40, offset: 300)).get()
        let d = try s.add(prompt: prompt(40, offset: 300)).get()
        #expect(step(&s).work.last == Work(sequence: d, start: 0, count: 22, wantsLogits: false))
    }

    @Test func theNewestSequenceIsPreemptedWhenBlocksRunOut() throws {
        // 4 blocks of 16: two sequences of 30 tokens fit (2 blocks each) until one needs a third block.
        var s = scheduler(blocks: 4, step: 64, prefixCaching: false)
        let a = try s.add(prompt: prompt(31)).get()
        let b = try s.add(prompt: prompt(30, offset: 500)).get()
        step(&s)
        #expect(s.blocks.availableCount == 0)
        // a: 32 tokens → fits block 2; b: 31 → fits. Next step a needs a third block.
        step(&s)
        let plan = step(&s)
        #expect(plan.preempted == [b])
        #expect(plan.work.map(\.sequence) == [a])
        #expect(s.waitingCount == 1 && s.preemptionCount == 1)
        // When a finishes, b is recomputed from all its tokens (prompt and generated ones).
        s.finish(a)
        let resumed = step(&s)
        let tokens = try #require(s.tokens(of: b))
        #expect(resumed.work == [Work(sequence: b, start: 0, count: tokens.count - 1, wantsLogits: true)]
            || resumed.work == [Work(sequence: b, start: 0, count: tokens.count, wantsLogits: true)])
    }

    @Test func finishAndCancelReleaseEverything() throws {
        var s = scheduler(step: 64)
        let a = try s.add(prompt: prompt(20)).get()
        let b = try s.add(prompt: prompt(20, offset: 50)).get()
        step(&s)
        let c = try s.add(prompt: prompt(20, offset: 90)).get()
        s.finish(c)
        s.finish(a)
        s.finish(b)
        #expect(s.runningCount == 0 && s.waitingCount == 0)
        #expect(s.blocks.usedCount == 0)
        #expect(s.schedule().work.isEmpty)
    }

    @Test func sequencesStopAtTheContextLength() throws {
        var s = scheduler(step: 64, context: 20)
        let id = try s.add(prompt: prompt(18)).get()
        step(&s)
        let first = s.append(1, to: id)
        let second = s.append(2, to: id)
        #expect(first && !second)
    }

    /// Random arrivals, lengths and finishes: blocks are never lost, every step respects the budget,
    /// and every sequence eventually completes.
    @Test func randomTrafficKeepsInvariants() throws {
        var s = scheduler(blocks: 12, step: 24, running: 4, waiting: 100, context: 200)
        var generator = SystemRandomNumberGenerator()
        var remaining: [Scheduler.SequenceID: Int] = [:]
        var added = 0, finished = 0
        for round in 0 ..< 3000 {
            if round < 2000, Int.random(in: 0 ..< 4, using: &generator) == 0 {
                let length = Int.random(in: 1 ... 60, using: &generator)
                let shared = Bool.random(using: &generator)
                if case .success(let id) = s.add(prompt: prompt(length, offset: shared ? 0 : Int32(round * 1000))) {
                    remaining[id] = Int.random(in: 1 ... 20, using: &generator)
                    added += 1
                }
            }
            let plan = s.schedule()
            #expect(plan.tokenCount <= 24)
            #expect(Set(plan.work.map(\.sequence)).count == plan.work.count)
            s.commit(plan)
            for work in plan.work where work.wantsLogits {
                remaining[work.sequence, default: 0] -= 1
                if remaining[work.sequence]! <= 0 || !s.append(3, to: work.sequence) {
                    s.finish(work.sequence)
                    remaining[work.sequence] = nil
                    finished += 1
                }
            }
            #expect(s.blocks.usedCount + s.blocks.availableCount == 12)
        }
        #expect(added > 100 && finished == added)
        #expect(s.blocks.usedCount == 0)
    }
}

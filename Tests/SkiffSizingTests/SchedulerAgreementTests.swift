import SkiffEngine
@testable import SkiffSizing
import Testing

/// `SimulatedReplica` restates the rules of the engine's `Scheduler` on token counts. These tests drive
/// both with the same random workloads and require the same decisions at every step: which requests
/// compute how many tokens, which are preempted, which are refused, which finish.
@Suite struct SchedulerAgreementTests {
    struct Limits: CustomTestStringConvertible {
        var stepTokens: Int, running: Int, waiting: Int, context: Int, blocks: Int
        var testDescription: String { "step \(stepTokens), running \(running), waiting \(waiting), context \(context), blocks \(blocks)" }
    }

    static let limits = [
        Limits(stepTokens: 64, running: 4, waiting: 8, context: 256, blocks: 64),     // roomy cache
        Limits(stepTokens: 32, running: 8, waiting: 4, context: 200, blocks: 14),     // preemptions, 429s
        Limits(stepTokens: 512, running: 16, waiting: 32, context: 1024, blocks: 70), // serve's budget, tight cache
        Limits(stepTokens: 7, running: 3, waiting: 64, context: 100, blocks: 9),      // odd budget, long chunking
    ]

    @Test(arguments: limits, [UInt64(1), 2, 3])
    func sameDecisionsStepByStep(limits: Limits, seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var scheduler = Scheduler(
            configuration: .init(maxStepTokens: limits.stepTokens, maxRunning: limits.running, maxWaiting: limits.waiting,
                                 contextLength: limits.context),
            blocks: KVBlockPool(capacity: limits.blocks, blockSize: 16, prefixCaching: false))
        var replica = SimulatedReplica(configuration: .init(
            maxStepTokens: limits.stepTokens, maxRunning: limits.running, maxWaiting: limits.waiting, contextLength: limits.context,
            blockSize: 16, cacheBlocks: limits.blocks, stepTime: tokenClock))
        var requestOf: [Scheduler.SequenceID: Int] = [:]
        var wanted: [Int: Int] = [:]      // output tokens per request
        var generated: [Int: Int] = [:]
        var requests = 0, steps = 0, preemptions = 0, finished = 0
        // Up to one prompt fits the whole cache (as serve refuses longer ones); outputs stop at the context.
        let longestPrompt = min(limits.context - 1, limits.blocks * 16 - 1)

        while steps < 400 {
            // Bursts of arrivals between steps, handed to both.
            let arrivals = random.unit() < 0.3 ? Int(random.unit() * 4) : 0
            for _ in 0 ..< arrivals where requests < 200 {
                let prompt = 1 + Int(random.unit() * random.unit() * Double(longestPrompt))
                let output = 1 + Int(random.unit() * 40)
                let id = requests
                requests += 1
                let tokens = (0 ..< prompt).map { Int32(id * 10_000 + $0) }
                let accepted = replica.add(request: id, prompt: prompt, output: output)
                switch scheduler.add(prompt: tokens) {
                case .success(let sequence):
                    #expect(accepted, "request \(id): the scheduler queued it, the simulator refused it")
                    requestOf[sequence] = id
                    wanted[id] = min(output, limits.context - prompt)
                case .failure(let refusal):
                    #expect(!accepted, "request \(id): the scheduler refused it (\(refusal)), the simulator queued it")
                }
            }

            let plan = scheduler.schedule()
            let simulated = replica.planStep()
            let engineWork = plan.work.map { (requestOf[$0.sequence]!, $0.count) }
            let simulatedWork = replica.plannedWork
            #expect(engineWork.map(\.0) == simulatedWork.map(\.request), "step \(steps): different sequences")
            #expect(engineWork.map(\.1) == simulatedWork.map(\.count), "step \(steps): different token counts")
            #expect(scheduler.preemptionCount == replica.preemptions, "step \(steps): different preemptions")
            #expect(scheduler.runningCount == replica.running.count && scheduler.waitingCount == replica.waiting.count,
                    "step \(steps): running/waiting \(scheduler.runningCount)/\(scheduler.waitingCount) vs \(replica.running.count)/\(replica.waiting.count)")
            preemptions = scheduler.preemptionCount
            guard !plan.work.isEmpty, simulated != nil else {
                #expect(plan.work.isEmpty && simulated == nil, "step \(steps): only one of them has work")
                if requests >= 200 { break }
                steps += 1
                continue
            }

            // The engine computes the step; sequences reaching their last token get one more.
            scheduler.commit(plan)
            var engineDone: [Int] = []
            for work in plan.work where work.wantsLogits {
                let id = requestOf[work.sequence]!
                generated[id, default: 0] += 1
                if generated[id]! >= wanted[id]! || !scheduler.append(Int32(id), to: work.sequence) {
                    scheduler.finish(work.sequence)
                    engineDone.append(id)
                }
            }
            let emitted = replica.finishStep()
            #expect(emitted.map(\.request) == plan.work.filter(\.wantsLogits).map { requestOf[$0.sequence]! }, "step \(steps): different tokens")
            #expect(emitted.filter(\.finished).map(\.request) == engineDone, "step \(steps): different requests finished")
            finished += engineDone.count
            steps += 1
        }
        // The workload must have exercised the rules, not just idled.
        #expect(finished > 20)
        if limits.blocks < 20 { #expect(preemptions > 0, "a tight cache should preempt") }
    }
}

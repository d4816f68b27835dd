import SkiffHyperparameters
import SkiffScheduling

/// One replica of `skiff serve` (or vLLM) in the simulator: the engine's own `Scheduler` and `KVBlockPool`
/// (continuous batching with chunked prefill, a bounded queue, paged KV blocks and preemption), fed
/// prompts of the workload's lengths, each step's duration given by the step-time model.
///
/// The scheduler's rules are therefore the engine's, not a restatement of them, and so is the block pool:
/// block ids of the model's block groups (`MemoryPlan.cacheBlocks`), a sliding-window group holding only
/// its window. Not modelled: prefix caching (synthetic prompts share no prefix) and cancellations.
struct SimulatedReplica {
    struct Configuration {
        var maxStepTokens: Int
        var maxRunning: Int
        var maxWaiting: Int
        var contextLength: Int
        var blockSize: Int
        var cacheBlocks: Int
        var blockGroups: [CacheLayout.BlockGroup]
        var stepTime: StepTimeModel
    }

    /// A request's place in the simulation.
    struct Request {
        var id: Int
        var output: Int
        var generated = 0
    }

    /// A token produced by a step: the request and whether it was its first.
    struct Emitted {
        var request: Int
        var first: Bool
        var finished: Bool
    }

    let configuration: Configuration
    private var scheduler: Scheduler
    private var requests: [Scheduler.SequenceID: Request] = [:]
    /// The step in flight; nil between steps.
    private var inFlight: Scheduler.StepPlan?
    /// Whether a step is in flight (its completion event is scheduled).
    var busy: Bool { inFlight != nil }

    init(configuration c: Configuration) {
        configuration = c
        scheduler = Scheduler(
            configuration: .init(maxStepTokens: c.maxStepTokens, maxRunning: c.maxRunning, maxWaiting: c.maxWaiting,
                                 contextLength: c.contextLength),
            blocks: KVBlockPool(capacity: c.cacheBlocks, blockSize: c.blockSize, prefixCaching: false, groups: c.blockGroups))
    }

    var load: Int { scheduler.waitingCount + scheduler.runningCount }
    var waitingCount: Int { scheduler.waitingCount }
    var runningCount: Int { scheduler.runningCount }
    /// The requests waiting, first to be admitted first.
    var waitingRequests: [Int] { scheduler.waitingSequences.map { requests[$0]!.id } }
    /// The requests running, oldest first.
    var runningRequests: [Int] { scheduler.runningSequences.map { requests[$0]!.id } }
    /// Sequences preempted since the replica started.
    var preemptions: Int { scheduler.preemptionCount }
    /// The step in flight as (request, tokens computed) in batch order; empty between steps.
    var plannedWork: [(request: Int, count: Int)] { inFlight?.work.map { (requests[$0.sequence]!.id, $0.count) } ?? [] }
    var isIdle: Bool { load == 0 }
    var usedBlocks: Int { scheduler.blocks.usedCount }

    /// Queues a request (its prompt cut to the context, its output to what the context leaves), or returns
    /// false when the engine refuses it: the queue is full (429), or the prompt does not fit the cache.
    mutating func add(request: Int, prompt: Int, output: Int) -> Bool {
        let prompt = min(prompt, configuration.contextLength - 1)
        guard case .success(let sequence) = scheduler.add(prompt: Array(repeating: 0, count: max(prompt, 1))) else { return false }
        requests[sequence] = Request(id: request, output: max(1, min(output, configuration.contextLength - prompt)))
        return true
    }

    /// Plans the next step and returns its duration, or nil when there is nothing to compute.
    mutating func startStep() -> Double? {
        planStep().map { configuration.stepTime.seconds($0) }
    }

    /// Plans the next step and returns what it computes, or nil when there is nothing to compute.
    mutating func planStep() -> StepShape? {
        let plan = scheduler.schedule()
        guard !plan.work.isEmpty else { return nil }
        var shape = StepShape(prefillTokens: 0, prefillAttended: 0, decodeSequences: 0, decodeAttended: 0)
        for work in plan.work {
            if work.count == 1, requests[work.sequence]!.generated > 0, work.wantsLogits {
                shape.decodeSequences += 1
                shape.decodeAttended += work.start + 1
            } else {
                shape.prefillTokens += work.count
                shape.prefillAttended += work.count * (work.start + (work.count + 1) / 2)
            }
        }
        inFlight = plan
        return shape
    }

    /// Completes the step in flight: computed tokens advance, sequences that reached their last token emit
    /// one, finished sequences leave and free their blocks.
    mutating func finishStep() -> [Emitted] {
        guard let plan = inFlight else { return [] }
        inFlight = nil
        scheduler.commit(plan)
        var emitted: [Emitted] = []
        for work in plan.work where work.wantsLogits {
            guard var request = requests[work.sequence] else { continue }
            request.generated += 1
            let done = request.generated >= request.output || !scheduler.append(0, to: work.sequence)
            emitted.append(Emitted(request: request.id, first: request.generated == 1, finished: done))
            if done {
                scheduler.finish(work.sequence)
                requests[work.sequence] = nil
            } else {
                requests[work.sequence] = request
            }
        }
        return emitted
    }
}

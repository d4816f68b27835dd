/// One replica of `skiff serve` (or vLLM) in the simulator: a continuous-batching server over a paged KV
/// cache, following the rules of Skiff's `Scheduler` on token counts instead of tokens.
///
/// The rules, step by step, as `SkiffEngine.Scheduler` applies them:
/// - A request is refused (HTTP 429) when `maxWaiting` requests already wait.
/// - Each step spends `maxStepTokens`: first the running sequences, oldest first (one token for a decode,
///   a chunk of the prompt for a prefill), then newly admitted sequences from the front of the queue while
///   fewer than `maxRunning` run; admission stops at the first sequence the cache cannot hold, and no
///   sequence is admitted in a step that had to preempt.
/// - Blocks of `blockSize` tokens are reserved as a sequence's computed tokens grow; when none is left the
///   most recently admitted running sequence is preempted: its blocks are released and it goes back to the
///   front of the queue, to be recomputed (prompt and generated tokens) when readmitted.
/// Not modelled: prefix caching (synthetic prompts share no prefix) and cancellations.
struct SimulatedReplica {
    struct Configuration {
        var maxStepTokens: Int
        var maxRunning: Int
        var maxWaiting: Int
        var contextLength: Int
        var blockSize: Int
        var cacheBlocks: Int
        var stepTime: StepTimeModel
    }

    struct Sequence {
        var request: Int
        var prompt: Int
        var output: Int
        var computed = 0
        var generated = 0
        var blocks = 0
        var total: Int { prompt + generated }
    }

    /// A token produced by a step: the request and whether it was its first.
    struct Emitted {
        var request: Int
        var first: Bool
        var finished: Bool
    }

    let configuration: Configuration
    private(set) var waiting: [Sequence] = []
    private(set) var running: [Sequence] = []
    private var freeBlocks: Int
    private(set) var preemptions = 0
    /// Whether a step is in flight (its completion event is scheduled).
    var busy = false
    /// The step in flight: which running sequences compute how many tokens.
    private var inFlight: [(index: Int, count: Int)] = []

    init(configuration: Configuration) {
        self.configuration = configuration
        freeBlocks = configuration.cacheBlocks
    }

    var load: Int { waiting.count + running.count }
    /// The step in flight as (request, tokens computed) in batch order; empty between steps.
    var plannedWork: [(request: Int, count: Int)] { inFlight.map { (running[$0.index].request, $0.count) } }
    var isIdle: Bool { waiting.isEmpty && running.isEmpty }
    var usedBlocks: Int { configuration.cacheBlocks - freeBlocks }

    /// Queues a request, or returns false when the queue is full (429).
    mutating func add(request: Int, prompt: Int, output: Int) -> Bool {
        guard waiting.count < configuration.maxWaiting else { return false }
        let prompt = min(prompt, configuration.contextLength - 1)
        waiting.append(Sequence(request: request, prompt: prompt, output: max(1, min(output, configuration.contextLength - prompt))))
        return true
    }

    /// Plans the next step and returns its duration, or nil when there is nothing to compute.
    mutating func startStep() -> Double? {
        planStep().map { configuration.stepTime.seconds($0) }
    }

    /// Plans the next step and returns what it computes, or nil when there is nothing to compute.
    mutating func planStep() -> StepShape? {
        var budget = configuration.maxStepTokens
        var plan: [(index: Int, count: Int)] = []
        var preempted = false
        var index = 0
        while index < running.count, budget > 0 {
            let count = min(running[index].total - running[index].computed, budget)
            guard count > 0 else { index += 1; continue }
            var stillRunning = true
            while !Self.reserve(&running[index], upTo: running[index].computed + count, from: &freeBlocks, blockSize: configuration.blockSize) {
                preempted = true
                let victim = running.count - 1
                preempt(victim)
                plan.removeAll { $0.index == victim }
                if victim == index { stillRunning = false; break }
            }
            guard stillRunning else { break }
            plan.append((index, count))
            budget -= count
            index += 1
        }
        while !preempted, budget > 0, running.count < configuration.maxRunning, !waiting.isEmpty {
            var s = waiting[0]
            let count = min(s.total - s.computed, budget)
            guard Self.reserve(&s, upTo: s.computed + count, from: &freeBlocks, blockSize: configuration.blockSize) else {
                freeBlocks += s.blocks
                s.blocks = 0
                waiting[0] = s
                break
            }
            waiting.removeFirst()
            running.append(s)
            plan.append((running.count - 1, count))
            budget -= count
        }
        guard !plan.isEmpty else { return nil }
        var shape = StepShape(prefillTokens: 0, prefillAttended: 0, decodeSequences: 0, decodeAttended: 0)
        for work in plan {
            let s = running[work.index]
            if work.count == 1, s.generated > 0, s.computed == s.total - 1 {
                shape.decodeSequences += 1
                shape.decodeAttended += s.computed + 1
            } else {
                shape.prefillTokens += work.count
                shape.prefillAttended += work.count * (s.computed + (work.count + 1) / 2)
            }
        }
        inFlight = plan
        busy = true
        return shape
    }

    /// Completes the step in flight: computed tokens advance, sequences that reached their last token emit
    /// one, finished sequences leave and free their blocks.
    mutating func finishStep() -> [Emitted] {
        var emitted: [Emitted] = []
        var finished: [Int] = []
        for work in inFlight {
            running[work.index].computed += work.count
            let s = running[work.index]
            guard s.computed == s.total else { continue }
            running[work.index].generated += 1
            let done = s.generated + 1 >= s.output || s.total + 1 >= configuration.contextLength
            emitted.append(Emitted(request: s.request, first: s.generated == 0, finished: done))
            if done { finished.append(work.index) }
        }
        for index in finished.sorted(by: >) {
            freeBlocks += running[index].blocks
            running.remove(at: index)
        }
        inFlight = []
        busy = false
        return emitted
    }

    /// Gives `s` blocks for its first `tokens` tokens; false when the pool ran dry (what it took stays with it).
    private static func reserve(_ s: inout Sequence, upTo tokens: Int, from freeBlocks: inout Int, blockSize: Int) -> Bool {
        let needed = (tokens + blockSize - 1) / blockSize - s.blocks
        guard needed > 0 else { return true }
        guard needed <= freeBlocks else {
            // Take what there is; the caller preempts and tries again, as the engine's block-by-block loop does.
            s.blocks += freeBlocks
            freeBlocks = 0
            return false
        }
        freeBlocks -= needed
        s.blocks += needed
        return true
    }

    private mutating func preempt(_ index: Int) {
        var s = running.remove(at: index)
        freeBlocks += s.blocks
        s.blocks = 0
        s.computed = 0
        waiting.insert(s, at: 0)
        preemptions += 1
    }
}

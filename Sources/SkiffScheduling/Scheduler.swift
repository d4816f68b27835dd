/// Decides, step by step, which tokens of which sequences the model computes next: continuous batching
/// with chunked prefill, a paged KV cache with prefix sharing, a bounded waiting queue and preemption.
///
/// A value type without I/O or clocks, in the style of a state machine: the engine feeds it events
/// (`add`, `cancel`, `commit`, `append`, `finish`) and asks it for the next `StepPlan`. Every policy is
/// therefore testable without a model.
///
/// Each step spends a budget of `maxStepTokens` tokens: first one token for every running sequence that
/// is decoding, then prompt chunks for running sequences still in prefill, then newly admitted
/// sequences from the queue (oldest first). A long prompt is split across steps, so it never stalls
/// the others' tokens. When the cache runs out of blocks, the most recently admitted sequence is
/// preempted: its blocks are released (full ones stay in the prefix cache) and it goes back to the
/// front of the queue to be recomputed later.
///
/// A sequence holds blocks in every block group of the cache (`SequenceBlocks`); in a sliding-window group
/// only those its window and the step's tokens span, so a long sequence costs the windowed layers little.
/// Every running sequence also holds one of `maxRunning` state slots, where a model with recurrent layers
/// keeps its state; a preempted sequence gives its slot up and starts afresh.
///
/// With state snapshots (`KVBlockPool.snapshotCapacity`), a prompt's state is snapshotted at up to two block
/// boundaries: where its longest cached prefix ends (the prompt it shares with an earlier one, such as a
/// system prompt; the next sequence sharing it starts there) and its last full block (a prompt sent again).
/// A prompt chunk is cut to end at such a boundary, and a sequence whose prefix has a snapshot starts from
/// it (`StepPlan.restores`).
///
/// A request whose prompt begins with full blocks that a running sequence is still computing (requests
/// arriving together with one system prompt) waits until they are computed and in the prefix cache,
/// when everything it could compute in this step lies among them (so waiting costs it nothing); the
/// queue stays in order behind it.
public struct Scheduler: Sendable {
    /// Limits the scheduler works within.
    public struct Configuration: Sendable, Equatable {
        /// Tokens computed per step across all sequences (the batch size of a forward pass).
        public var maxStepTokens: Int
        /// Sequences running at once.
        public var maxRunning: Int
        /// Requests allowed to wait; more are refused (the server answers 429).
        public var maxWaiting: Int
        /// Longest sequence (prompt plus output) the model and cache accept.
        public var contextLength: Int

        /// Creates a configuration.
        public init(maxStepTokens: Int, maxRunning: Int, maxWaiting: Int, contextLength: Int) {
            self.maxStepTokens = maxStepTokens
            self.maxRunning = maxRunning
            self.maxWaiting = maxWaiting
            self.contextLength = contextLength
        }
    }

    /// Identifies a sequence for as long as it lives in the scheduler.
    public typealias SequenceID = UInt64

    /// Why a request was not accepted.
    public enum Refusal: Error, Sendable, Equatable {
        /// The waiting queue is full; try again later.
        case queueFull
        /// The prompt cannot fit the context window (or the whole cache) even alone.
        case promptTooLong(tokens: Int, limit: Int)
        /// An empty prompt.
        case emptyPrompt
    }

    /// One sequence's share of a step: compute tokens `start ..< start + count` of it.
    public struct Work: Sendable, Equatable {
        /// The sequence.
        public var sequence: SequenceID
        /// Position of the first token to compute.
        public var start: Int
        /// Number of tokens to compute.
        public var count: Int
        /// Whether this reaches the sequence's last token, so its next-token logits are wanted.
        public var wantsLogits: Bool

        /// Creates a work item.
        public init(sequence: SequenceID, start: Int, count: Int, wantsLogits: Bool) {
            self.sequence = sequence
            self.start = start
            self.count = count
            self.wantsLogits = wantsLogits
        }
    }

    /// A sequence's state copied from a snapshot (restored before a step), or into one (after a step).
    public struct StateCopy: Sendable, Equatable {
        /// The sequence.
        public var sequence: SequenceID
        /// The snapshot index in the block pool.
        public var snapshot: Int32

        /// Creates a copy.
        public init(sequence: SequenceID, snapshot: Int32) {
            self.sequence = sequence
            self.snapshot = snapshot
        }
    }

    /// What to compute in one forward pass.
    public struct StepPlan: Sendable, Equatable {
        /// Work items in batch order.
        public var work: [Work] = []
        /// Sequences to start from a snapshot before the pass (their state slot gets the snapshot's state).
        public var restores: [StateCopy] = []
        /// Sequences preempted while planning (their blocks were released; they wait to be recomputed).
        public var preempted: [SequenceID] = []
        /// Total tokens of the step.
        public var tokenCount: Int { work.reduce(0) { $0 + $1.count } }
    }

    struct Sequence: Sendable {
        var tokens: [Int32]
        var computed = 0
        var cache: SequenceBlocks
        var running = false
        var stateSlot: Int32?
        /// Token counts at which its state is to be snapshotted, ascending.
        var snapshotTargets: [Int] = []
    }

    /// The limits in force.
    public let configuration: Configuration
    /// The KV cache's blocks.
    public private(set) var blocks: KVBlockPool
    private var sequences: [SequenceID: Sequence] = [:]
    private var waiting: [SequenceID] = []
    private var running: [SequenceID] = []
    private var freeStateSlots: [Int32]
    private var nextID: SequenceID = 1

    /// Sequences preempted since creation.
    public private(set) var preemptionCount = 0

    /// Creates a scheduler over `blocks`.
    public init(configuration: Configuration, blocks: KVBlockPool) {
        precondition(configuration.maxStepTokens > 0 && configuration.maxRunning > 0)
        self.configuration = configuration
        self.blocks = blocks
        freeStateSlots = (0 ..< Int32(configuration.maxRunning)).reversed()
    }

    /// Requests waiting to start (or to be recomputed after preemption).
    public var waitingCount: Int { waiting.count }
    /// Sequences admitted and holding cache blocks.
    public var runningCount: Int { running.count }
    /// The waiting sequences, first to be admitted first.
    public var waitingSequences: [SequenceID] { waiting }
    /// The running sequences, oldest first (the newest is preempted first).
    public var runningSequences: [SequenceID] { running }

    /// Queues a new sequence with `prompt`, or says why not.
    public mutating func add(prompt: [Int32]) -> Result<SequenceID, Refusal> {
        guard !prompt.isEmpty else { return .failure(.emptyPrompt) }
        let limit = min(configuration.contextLength, blocks.longestSequence(stepTokens: configuration.maxStepTokens)) - 1
        guard prompt.count <= limit else { return .failure(.promptTooLong(tokens: prompt.count, limit: limit)) }
        guard waiting.count < configuration.maxWaiting else { return .failure(.queueFull) }
        let id = nextID
        nextID += 1
        sequences[id] = Sequence(tokens: prompt, cache: SequenceBlocks(in: blocks))
        waiting.append(id)
        return .success(id)
    }

    /// The tokens of a sequence (prompt and generated so far).
    public func tokens(of id: SequenceID) -> [Int32]? { sequences[id]?.tokens }

    /// The block tables of a running sequence, one per block group of the cache.
    public func blockTables(of id: SequenceID) -> [[Int32]]? { sequences[id]?.cache.tables }

    /// The state slot of a running sequence, from 0 ..< `maxRunning`.
    public func stateSlot(of id: SequenceID) -> Int32? { sequences[id]?.stateSlot }

    /// Plans the next step. Sequences that cannot get cache blocks are preempted (newest first).
    public mutating func schedule() -> StepPlan {
        var plan = StepPlan()
        var budget = configuration.maxStepTokens

        // Running sequences, oldest first: decodes (1 token) and unfinished prompts.
        var index = 0
        while index < running.count, budget > 0 {
            let id = running[index]
            guard let s = sequences[id] else { index += 1; continue }
            let count = chunk(of: s, budget: budget)
            guard count > 0 else { index += 1; continue }
            while !reserveBlocks(for: id, from: s.computed, to: s.computed + count) {
                // Preempt the newest running sequence; if that is this one, it waits too.
                guard let victim = running.last else { break }
                preempt(victim, into: &plan)
                if victim == id { break }
            }
            guard running.contains(id) else { break }
            plan.work.append(Work(sequence: id, start: s.computed, count: count, wantsLogits: s.computed + count == s.tokens.count))
            budget -= count
            index += 1
        }

        // Admit from the queue while budget and room remain (not in a step that had to preempt).
        while plan.preempted.isEmpty, budget > 0, running.count < configuration.maxRunning, let id = waiting.first, let waiting = sequences[id] {
            var restore: StateCopy?
            if waiting.cache.isEmpty {
                if prefixInFlight(for: waiting.tokens, budget: budget) { break }
                // Reuse cached full blocks, but always compute at least the last token (its logits are needed).
                var s = take(id)
                let prefix = s.cache.acquireCachedPrefix(of: s.tokens[..<(s.tokens.count - 1)], from: &blocks)
                s.computed = prefix.tokens
                restore = prefix.snapshot.map { StateCopy(sequence: id, snapshot: $0) }
                if blocks.snapshotCapacity > 0 {
                    let lastFullBlock = (s.tokens.count - 1) / blocks.blockSize * blocks.blockSize
                    s.snapshotTargets = Array(Set([prefix.sharedTokens, lastFullBlock]).filter { $0 > s.computed }).sorted()
                }
                sequences[id] = s
            }
            guard let s = sequences[id] else { break }
            let count = chunk(of: s, budget: budget)
            guard reserveBlocks(for: id, from: s.computed, to: s.computed + count) else {
                // Not enough cache now: give back what was taken and wait for running sequences to finish.
                releaseBlocks(of: id)
                break
            }
            self.waiting.removeFirst()
            sequences[id]?.running = true
            sequences[id]?.stateSlot = freeStateSlots.popLast()
            running.append(id)
            if let restore { plan.restores.append(restore) }
            plan.work.append(Work(sequence: id, start: s.computed, count: count, wantsLogits: s.computed + count == s.tokens.count))
            budget -= count
        }
        return plan
    }

    /// Marks a planned step as computed: the sequences' KV now covers the planned tokens, and their full
    /// blocks become shareable. Returns the snapshots to take of sequences' states as they are after the
    /// step (before the next one changes them).
    @discardableResult
    public mutating func commit(_ plan: StepPlan) -> [StateCopy] {
        var snapshots: [StateCopy] = []
        for work in plan.work where sequences[work.sequence]?.running == true {
            var s = take(work.sequence)
            s.computed = max(s.computed, work.start + work.count)
            s.cache.didCompute(s.computed, of: s.tokens[...], in: &blocks)
            while let target = s.snapshotTargets.first, target <= s.computed {
                s.snapshotTargets.removeFirst()
                guard target == s.computed, let snapshot = blocks.recordSnapshot(of: s.tokens[..<target]) else { continue }
                snapshots.append(StateCopy(sequence: work.sequence, snapshot: snapshot))
            }
            sequences[work.sequence] = s
        }
        return snapshots
    }

    /// Tokens of `s` to compute in a step with `budget` tokens left: as many as remain, cut at its next
    /// snapshot boundary.
    private func chunk(of s: Sequence, budget: Int) -> Int {
        let count = min(s.tokens.count - s.computed, budget)
        guard let target = s.snapshotTargets.first(where: { $0 > s.computed }) else { return count }
        return min(count, target - s.computed)
    }

    /// Appends a generated token to a sequence (its KV is computed in a later step). Returns false when
    /// the sequence has reached the context length and must be finished instead.
    public mutating func append(_ token: Int32, to id: SequenceID) -> Bool {
        guard let count = sequences[id]?.tokens.count, count < configuration.contextLength else { return false }
        sequences[id]?.tokens.append(token)
        return true
    }

    /// Ends a sequence (finished or cancelled), wherever it is, and releases its blocks.
    public mutating func finish(_ id: SequenceID) {
        guard sequences[id] != nil else { return }
        releaseBlocks(of: id)
        releaseStateSlot(of: id)
        sequences[id] = nil
        running.removeAll { $0 == id }
        waiting.removeAll { $0 == id }
    }

    /// Whether the `budget` tokens a new sequence of `tokens` would compute now all lie in full blocks that
    /// a running sequence shares with it and has yet to compute (the last token aside: it is always
    /// computed). Once computed they are in the prefix cache, so admitting it a step later costs it no
    /// progress and saves computing them twice.
    private func prefixInFlight(for tokens: [Int32], budget: Int) -> Bool {
        guard blocks.prefixCaching else { return false }
        let shareable = tokens.count - 1
        for id in running {
            guard let r = sequences[id] else { continue }
            var common = 0
            let limit = min(shareable, r.tokens.count)
            while common < limit, tokens[common] == r.tokens[common] { common += 1 }
            let sharedBlocksEnd = common / blocks.blockSize * blocks.blockSize
            let cachedEnd = r.computed / blocks.blockSize * blocks.blockSize
            if cachedEnd < sharedBlocksEnd, cachedEnd + budget <= sharedBlocksEnd { return true }
        }
        return false
    }

    /// Makes sure `id` has the blocks computing its positions `start ..< end` needs. Returns false if the
    /// pool ran dry (blocks taken so far stay with the sequence).
    private mutating func reserveBlocks(for id: SequenceID, from start: Int, to end: Int) -> Bool {
        guard sequences[id] != nil else { return false }
        var s = take(id)
        defer { sequences[id] = s }
        return s.cache.reserve(from: start, to: end, in: &blocks)
    }

    private mutating func releaseStateSlot(of id: SequenceID) {
        guard let slot = sequences[id]?.stateSlot else { return }
        freeStateSlots.append(slot)
        sequences[id]?.stateSlot = nil
    }

    private mutating func releaseBlocks(of id: SequenceID) {
        guard sequences[id] != nil else { return }
        var s = take(id)
        s.cache.release(to: &blocks)
        s.computed = 0
        sequences[id] = s
    }

    /// Takes sequence `id`, which must exist, out of the table, so its arrays are mutated in place rather
    /// than copied; the caller puts it back.
    private mutating func take(_ id: SequenceID) -> Sequence {
        sequences.removeValue(forKey: id)!
    }

    /// Sends a running sequence back to the front of the queue, to be recomputed from its tokens.
    private mutating func preempt(_ id: SequenceID, into plan: inout StepPlan) {
        releaseBlocks(of: id)
        releaseStateSlot(of: id)
        sequences[id]?.running = false
        sequences[id]?.snapshotTargets = []
        running.removeAll { $0 == id }
        waiting.insert(id, at: 0)
        plan.work.removeAll { $0.sequence == id }
        plan.restores.removeAll { $0.sequence == id }
        plan.preempted.append(id)
        preemptionCount += 1
    }
}

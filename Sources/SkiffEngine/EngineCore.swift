import SkiffGrammar
import SkiffModels
import SkiffScheduling

/// The engine's policy without threads, clocks or I/O: requests come in, forward passes go out as steps,
/// their logits come back, and each request's tokens and end go out as outputs.
///
/// It checks a request's limits (all of them, in one place: an empty prompt, token ids outside the
/// vocabulary, a prompt that leaves no room in the context, `max_tokens` below 1, a full queue), admits
/// it to the `Scheduler`, samples its tokens from the logits of the steps that computed it, masks
/// end-of-generation tokens while `minTokens` holds, and ends it at an end-of-generation token, at
/// `maxTokens`, at the context's end or at its deadline. It works on token ids only: text, stop strings
/// and the tokenizer belong to the caller (`GenerationStream`). `InferenceEngine` drives it from its
/// thread; tests drive it with logits they make up.
public struct EngineCore: Sendable {
    /// Identifies a request for as long as the core knows it.
    public typealias RequestID = UInt64

    /// What a request gets, in order: its tokens, then exactly one `finished` or `failed`.
    public enum Output: Sendable, Equatable {
        /// The next generated token; `cachedPromptTokens` says how much of the prompt came from the prefix cache.
        case token(RequestID, Int32, logprobs: PositionLogprobs?, cachedPromptTokens: Int)
        /// The end: why, and the exact token counts.
        case finished(RequestID, FinishReason, GenerationUsage)
        /// The request failed (a forward pass failed, or its deadline passed).
        case failed(RequestID, EngineError)
    }

    /// A copy of one runner state slot into another (`ModelRunner.copyState`): a snapshot restored into a
    /// sequence's slot, or a sequence's state kept as a snapshot. Slots `maxRunning ..< maxRunning +
    /// snapshots` hold the snapshots.
    public struct StateCopy: Sendable, Equatable {
        /// The slot copied.
        public var from: Int
        /// The slot written.
        public var to: Int
    }

    /// One forward pass: the batch to compute, and what the core needs to book its logits.
    public struct Step: Sendable {
        /// The tokens to compute.
        public let batch: ForwardBatch
        /// Prompt tokens among them (the rest are generated tokens, or recomputed after preemption).
        public let promptTokens: Int
        let plan: Scheduler.StepPlan
    }

    /// What stays fixed for the core's life.
    public struct Configuration: Sendable {
        /// The scheduler's limits (the context length among them).
        public var scheduler: Scheduler.Configuration
        /// Token ids are below this.
        public var vocabularySize: Int
        /// The tokens that end generation.
        public var endOfGeneration: Set<Int32>

        /// Creates a configuration.
        public init(scheduler: Scheduler.Configuration, vocabularySize: Int, endOfGeneration: Set<Int32>) {
            self.scheduler = scheduler
            self.vocabularySize = vocabularySize
            self.endOfGeneration = endOfGeneration
        }
    }

    /// A request's state while the core has it.
    struct Active: Sendable {
        let id: RequestID
        let request: GenerationRequest
        var sampler: Sampler
        var counts: [Int32: Int] = [:]
        var generated = 0
        var cachedPromptTokens: Int?
        /// Where the text stands in the request's grammar, if it has one.
        var matcher: GrammarMatcher?
        /// The tokens the grammar allows next, when computed ahead (`grammarWork`).
        var mask: TokenMask?
    }

    /// The token mask of one constrained sequence for the step being computed: made by `grammarWork(for:)`,
    /// computed by the driver while the forward pass runs (or by `complete` if not), handed back to `complete`.
    public struct GrammarWork: Sendable {
        let sequence: Scheduler.SequenceID
        var matcher: GrammarMatcher
        var mask: TokenMask?

        /// Computes the mask (once).
        public mutating func computeMask() {
            if mask == nil { mask = matcher.allowedTokens() }
        }
    }

    /// The limits in force.
    public let configuration: Configuration
    /// The scheduler, for its counters and block pool.
    public private(set) var scheduler: Scheduler
    private var active: [Scheduler.SequenceID: Active] = [:]
    private var sequenceForRequest: [RequestID: Scheduler.SequenceID] = [:]
    private var stateCopies: [StateCopy] = []

    /// A core scheduling over `blocks`.
    public init(configuration: Configuration, blocks: KVBlockPool) {
        self.configuration = configuration
        scheduler = Scheduler(configuration: configuration.scheduler, blocks: blocks)
    }

    /// Requests the core has, waiting or running.
    public var requestCount: Int { active.count }

    /// Takes a request. Returns nil when it is queued, or why it is refused.
    public mutating func submit(_ id: RequestID, _ request: GenerationRequest) -> EngineError? {
        let context = configuration.scheduler.contextLength
        let prompt = request.prompt
        guard request.maxTokens >= 1 else { return EngineError(.invalidInput, "max_tokens must be at least 1", field: "max_tokens") }
        guard !prompt.isEmpty else { return EngineError(.invalidInput, "the prompt is empty", field: "prompt") }
        if let bad = prompt.first(where: { $0 < 0 || Int($0) >= configuration.vocabularySize }) {
            return EngineError(.invalidInput, "Token id \(bad) is outside the vocabulary (0..<\(configuration.vocabularySize)).", field: "prompt")
        }
        guard prompt.count < context else {
            return EngineError(.contextOverflow, "This model's maximum context length is \(context) tokens; the prompt has \(prompt.count) tokens, leaving no room for output.")
        }
        switch scheduler.add(prompt: prompt) {
        case .success(let sequence):
            var request = request
            request.maxTokens = min(request.maxTokens, context - prompt.count)
            request.minTokens = min(request.minTokens, request.maxTokens)
            sequenceForRequest[id] = sequence
            active[sequence] = Active(id: id, request: request, sampler: Sampler(request.sampling), matcher: request.grammar.map(GrammarMatcher.init))
            return nil
        case .failure(.queueFull):
            return EngineError(.overloaded, "the server is at capacity (\(scheduler.waitingCount) requests waiting); retry shortly")
        case .failure(.promptTooLong(let tokens, let limit)):
            return EngineError(.contextOverflow, "the prompt has \(tokens) tokens; this server's KV cache holds at most \(limit)")
        case .failure(.emptyPrompt):
            return EngineError(.invalidInput, "the prompt is empty", field: "prompt")
        }
    }

    /// Forgets a request its caller gave up on, freeing its blocks; nothing more is output for it.
    public mutating func cancel(_ id: RequestID) {
        guard let sequence = sequenceForRequest.removeValue(forKey: id) else { return }
        active[sequence] = nil
        scheduler.finish(sequence)
    }

    /// Fails every request whose deadline is at or before `now`, waiting or running.
    public mutating func expire(now: ContinuousClock.Instant) -> [Output] {
        var outputs: [Output] = []
        for (sequence, state) in active.sorted(by: { $0.value.id < $1.value.id }) {
            guard let deadline = state.request.deadline, deadline <= now else { continue }
            outputs.append(fail(sequence, EngineError(.timedOut, "the request did not finish within its time limit "
                + "(\(state.generated) tokens generated); raise --request-timeout or lower max_tokens")))
        }
        return outputs
    }

    /// The state copies the driver makes, in order, before the next forward pass: snapshots of the states the
    /// last pass left, then the restores the next pass starts from.
    public mutating func takeStateCopies() -> [StateCopy] {
        defer { stateCopies = [] }
        return stateCopies
    }

    /// The runner slot of snapshot `snapshot`.
    private func snapshotSlot(_ snapshot: Int32) -> Int { configuration.scheduler.maxRunning + Int(snapshot) }

    /// The next forward pass, or nil when nothing is left to compute.
    public mutating func nextStep() -> Step? {
        let plan = scheduler.schedule()
        for restore in plan.restores {
            guard let slot = scheduler.stateSlot(of: restore.sequence) else { continue }
            stateCopies.append(StateCopy(from: snapshotSlot(restore.snapshot), to: Int(slot)))
        }
        guard !plan.work.isEmpty else { return nil }
        var batch = ForwardBatch()
        var promptTokens = 0
        for work in plan.work {
            guard let tokens = scheduler.tokens(of: work.sequence), let tables = scheduler.blockTables(of: work.sequence) else { continue }
            if active[work.sequence]?.cachedPromptTokens == nil { active[work.sequence]?.cachedPromptTokens = work.start }
            let index = batch.addSequence(blockTables: tables, stateSlot: scheduler.stateSlot(of: work.sequence) ?? -1)
            let promptCount = active[work.sequence]?.request.prompt.count ?? 0
            for position in work.start ..< work.start + work.count {
                batch.add(token: tokens[position], position: Int32(position), sequence: index,
                          wantsLogits: work.wantsLogits && position == work.start + work.count - 1)
                if position < promptCount { promptTokens += 1 }
            }
        }
        return Step(batch: batch, promptTokens: promptTokens, plan: plan)
    }

    /// The token masks `step`'s constrained sequences need once its logits are back, to compute meanwhile.
    public func grammarWork(for step: Step) -> [GrammarWork] {
        step.plan.work.compactMap { work in
            guard work.wantsLogits, let matcher = active[work.sequence]?.matcher else { return nil }
            return GrammarWork(sequence: work.sequence, matcher: matcher)
        }
    }

    /// Books a computed step: its sequences' caches now hold its tokens, and each sequence whose logits it
    /// computed (one row of `logits` each, in batch order) gets its next token, or ends. `grammar` is the step's
    /// `grammarWork`, masks computed or not.
    public mutating func complete(_ step: Step, logits: [Float], grammar: [GrammarWork] = []) -> [Output] {
        for work in grammar where active[work.sequence] != nil {
            active[work.sequence]?.matcher = work.matcher
            active[work.sequence]?.mask = work.mask
        }
        for snapshot in scheduler.commit(step.plan) {
            guard let slot = scheduler.stateSlot(of: snapshot.sequence) else { continue }
            stateCopies.append(StateCopy(from: Int(slot), to: snapshotSlot(snapshot.snapshot)))
        }
        let vocabulary = configuration.vocabularySize
        var outputs: [Output] = []
        var row = 0
        logits.withUnsafeBufferPointer { all in
            for work in step.plan.work where work.wantsLogits {
                let slice = UnsafeBufferPointer(rebasing: all[row * vocabulary ..< (row + 1) * vocabulary])
                row += 1
                nextToken(for: work.sequence, logits: slice, into: &outputs)
            }
        }
        return outputs
    }

    /// Fails the requests of a step whose forward pass failed.
    public mutating func fail(_ step: Step, _ error: EngineError) -> [Output] {
        step.plan.work.compactMap { work in active[work.sequence] == nil ? nil : fail(work.sequence, error) }
    }

    /// Fails every request (the engine is shutting down).
    public mutating func failAll(_ error: EngineError) -> [Output] {
        active.sorted { $0.value.id < $1.value.id }.map { fail($0.key, error) }
    }

    /// Samples and books the next token of `sequence`, ending it when it is done.
    private mutating func nextToken(for sequence: Scheduler.SequenceID, logits: UnsafeBufferPointer<Float>, into outputs: inout [Output]) {
        guard var state = active[sequence] else { return }
        let end = configuration.endOfGeneration
        let masksEnd = state.request.ignoreEndOfGeneration || state.generated < state.request.minTokens
        var allowed: TokenMask?
        if var matcher = state.matcher {
            var mask = state.mask ?? matcher.allowedTokens()
            state.mask = nil
            for token in end { mask.remove(token) }
            if matcher.canEnd && !masksEnd { for token in end { mask.insert(token) } }
            guard !mask.isEmpty else {
                outputs.append(fail(sequence, EngineError(.invalidInput, "the output constraint allows no token of this model's vocabulary "
                    + "after \(state.generated) generated tokens, and the text it describes is not complete; loosen the schema or grammar")))
                return
            }
            state.matcher = matcher
            allowed = mask
        }
        let token: Int32
        do {
            token = try state.sampler.sample(logits: logits, counts: state.counts, excluding: masksEnd && allowed == nil ? end : [],
                                             allowing: allowed)
        } catch {
            outputs.append(fail(sequence, error))
            return
        }
        if end.contains(token) {
            outputs.append(finish(sequence, .stop))
            return
        }
        let completesGrammar: Bool
        if var matcher = state.matcher {
            _ = matcher.accept(token)
            completesGrammar = matcher.mustEnd
            state.matcher = matcher
        } else {
            completesGrammar = false
        }
        state.generated += 1
        state.counts[token, default: 0] += 1
        active[sequence] = state
        let logprobs = state.request.logprobs.map { Sampler.logprobs(of: token, top: $0, logits: logits) }
        outputs.append(.token(state.id, token, logprobs: logprobs, cachedPromptTokens: state.cachedPromptTokens ?? 0))
        if completesGrammar {
            outputs.append(finish(sequence, .stop))
        } else if state.generated >= state.request.maxTokens || !scheduler.append(token, to: sequence) {
            outputs.append(finish(sequence, .length))
        }
    }

    private mutating func finish(_ sequence: Scheduler.SequenceID, _ reason: FinishReason) -> Output {
        let state = forget(sequence)
        return .finished(state.id, reason, GenerationUsage(promptTokens: state.request.prompt.count, completionTokens: state.generated,
                                                            cachedPromptTokens: state.cachedPromptTokens ?? 0))
    }

    private mutating func fail(_ sequence: Scheduler.SequenceID, _ error: EngineError) -> Output {
        .failed(forget(sequence).id, error)
    }

    private mutating func forget(_ sequence: Scheduler.SequenceID) -> Active {
        let state = active.removeValue(forKey: sequence)!
        sequenceForRequest[state.id] = nil
        scheduler.finish(sequence)
        return state
    }
}

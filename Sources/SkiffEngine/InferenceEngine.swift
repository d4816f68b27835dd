import Foundation
import SkiffModels
import SkiffTokenizer
import Synchronization

/// What to generate for one request.
public struct GenerationRequest: Sendable {
    /// The prompt's token ids.
    public var prompt: [Int32]
    /// How tokens are chosen.
    public var sampling: SamplingParameters
    /// The most tokens to generate.
    public var maxTokens: Int
    /// Strings that end generation; none of their text is emitted.
    public var stop: [String]
    /// Tokens generated before an end-of-generation token may be chosen (those tokens are masked until then).
    public var minTokens: Int
    /// Never choose an end-of-generation token: generate exactly `maxTokens` unless a stop string matches
    /// (benchmarks use it to fix output lengths).
    public var ignoreEndOfGeneration: Bool
    /// Report the log-probability of each generated token and of this many likeliest alternatives
    /// (0 for the chosen token alone); nil reports none.
    public var logprobs: Int?
    /// When the request must have finished; past it, the engine ends it at its next step with `.timedOut`
    /// (waiting or running) and frees its blocks. Nil: no limit.
    public var deadline: ContinuousClock.Instant?

    /// Creates a request.
    public init(prompt: [Int32], sampling: SamplingParameters = .greedy, maxTokens: Int, stop: [String] = [],
                minTokens: Int = 0, ignoreEndOfGeneration: Bool = false, logprobs: Int? = nil,
                deadline: ContinuousClock.Instant? = nil) {
        self.prompt = prompt
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stop = stop
        self.minTokens = minTokens
        self.ignoreEndOfGeneration = ignoreEndOfGeneration
        self.logprobs = logprobs
        self.deadline = deadline
    }
}

/// A token's natural-log probability under the model's distribution at its position (before penalties,
/// temperature and filters, as vLLM reports by default).
public struct TokenLogprob: Sendable, Equatable {
    /// The token id.
    public var token: Int32
    /// Its log-probability (≤ 0).
    public var logprob: Float

    /// Creates an entry.
    public init(token: Int32, logprob: Float) {
        self.token = token
        self.logprob = logprob
    }
}

/// The log-probabilities at one generated position: the chosen token's and the likeliest alternatives'.
public struct PositionLogprobs: Sendable, Equatable {
    /// The token that was generated.
    public var chosen: TokenLogprob
    /// The likeliest tokens at this position, most likely first (as many as the request asked for).
    public var top: [TokenLogprob]
}

/// Token counts of a finished request.
public struct GenerationUsage: Sendable, Equatable {
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Tokens generated.
    public var completionTokens: Int
    /// Prompt tokens whose keys and values came from the prefix cache.
    public var cachedPromptTokens: Int
}

/// One event of a request's generation, in order: text pieces, then exactly one `finished`.
public enum GenerationEvent: Sendable, Equatable {
    /// New text (possibly empty while a stop sequence or a character is incomplete), the tokens that
    /// produced it and, when the request asked, their log-probabilities.
    case text(String, tokens: [Int32], logprobs: [PositionLogprobs] = [])
    /// The end: why, and the exact token counts.
    case finished(FinishReason, GenerationUsage)
}

/// A snapshot of the engine's state and counters, for metrics and readiness.
public struct EngineStatistics: Sendable, Equatable {
    /// Requests waiting to start.
    public var waitingRequests = 0
    /// Requests being generated.
    public var runningRequests = 0
    /// KV cache blocks in all.
    public var totalBlocks = 0
    /// KV cache blocks referenced by sequences.
    public var usedBlocks = 0
    /// Prompt tokens looked up in the prefix cache.
    public var prefixCacheQueriedTokens = 0
    /// Prompt tokens found in the prefix cache.
    public var prefixCacheHitTokens = 0
    /// Sequences preempted for lack of cache blocks.
    public var preemptions = 0
    /// Prompt tokens computed (not counting cache hits).
    public var promptTokensComputed = 0
    /// Tokens generated.
    public var generatedTokens = 0
    /// Forward passes run.
    public var steps = 0
    /// The latest steps, most recent last (at most 1024 kept; the metrics layer drains them).
    public var recentSteps: [EngineStep] = []

    /// All zero: the statistics of an engine that has done nothing yet.
    public init() {}

    /// Share of cache blocks in use, 0 to 1.
    public var cacheUsage: Double { totalBlocks == 0 ? 0 : Double(usedBlocks) / Double(totalBlocks) }
}

/// Limits and sizes of an `InferenceEngine`.
public struct EngineConfiguration: Sendable, Equatable {
    /// Compute threads.
    public var threads: Int
    /// Tokens per forward pass (decode tokens of all running sequences plus prompt chunks).
    public var maxStepTokens: Int
    /// Sequences generated at once.
    public var maxRunning: Int
    /// Requests allowed to wait; more are refused.
    public var maxWaiting: Int
    /// Longest sequence (prompt plus output).
    public var contextLength: Int
    /// KV cache blocks (of `blockSize` tokens).
    public var cacheBlocks: Int
    /// Tokens per KV block.
    public var blockSize: Int
    /// Whether full prompt blocks are shared between requests.
    public var prefixCaching: Bool
    /// Whether the KV cache's memory is made resident at start rather than as blocks are first written
    /// (a server's memory then stays what it is at start, as llama.cpp's and vLLM's do).
    public var residentCache: Bool

    /// Creates a configuration.
    public init(threads: Int, maxStepTokens: Int = 512, maxRunning: Int = 64, maxWaiting: Int = 256,
                contextLength: Int, cacheBlocks: Int, blockSize: Int = 16, prefixCaching: Bool = true,
                residentCache: Bool = false) {
        self.threads = threads
        self.maxStepTokens = maxStepTokens
        self.maxRunning = maxRunning
        self.maxWaiting = maxWaiting
        self.contextLength = contextLength
        self.cacheBlocks = cacheBlocks
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        self.residentCache = residentCache
    }
}

/// One forward pass of the engine: its size and how long it took (model, sampling and streaming).
public struct EngineStep: Sendable, Equatable {
    /// Tokens computed: one per decoding sequence plus prompt chunk tokens.
    public var tokens: Int
    /// Sequences in the batch.
    public var sequences: Int
    /// Wall-clock seconds from planning the step to its last token handed out.
    public var seconds: Double
}

/// What an engine's KV cache holds, from its configuration and the model's shape.
public struct CacheCapacity: Sendable, Equatable {
    /// Bytes of one token's keys and values over all layers.
    public var bytesPerToken: Int
    /// Bytes of the whole cache.
    public var bytes: Int
    /// The longest sequence the engine accepts.
    public var contextLength: Int
    /// Sequences that fit at once when every one is as long as the context.
    public var fullContextSequences: Int

    init(configuration c: EngineConfiguration, model: LoadedModel) {
        let layout = model.cacheLayout
        bytesPerToken = 2 * layout.kvElementsPerToken
        bytes = c.cacheBlocks * c.blockSize * KVCacheStorage.bytesPerBlockToken(for: layout)
        contextLength = min(c.contextLength, model.contextLength)
        fullContextSequences = c.cacheBlocks / layout.blocksPerSequence(tokens: contextLength, blockSize: c.blockSize, stepTokens: c.maxStepTokens)
    }
}

/// Generates text for many requests at once: a thread of its own runs the scheduler's steps through the
/// model (continuous batching over a paged, prefix-shared KV cache) and streams each request's events.
///
/// Requests arrive from any task through `generate(_:)`; dropping or cancelling the returned stream
/// cancels the request at the next step and frees its cache blocks.
public final class InferenceEngine: Sendable {
    /// The model being served.
    public let model: LoadedModel
    /// The limits in force.
    public let configuration: EngineConfiguration
    /// The KV cache as sized: bytes per token and sequences that fit at the full context.
    public let cacheCapacity: CacheCapacity

    private let inbox = Mutex(Inbox())
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let statistics: Mutex<EngineStatistics>

    struct Inbox: Sendable {
        var arrivals: [(UInt64, GenerationRequest, AsyncThrowingStream<GenerationEvent, any Error>.Continuation)] = []
        var cancellations: [UInt64] = []
        var nextID: UInt64 = 1
        var shuttingDown = false
    }

    /// Loads the runner on a new thread and starts the step loop.
    public init(model: LoadedModel, configuration: EngineConfiguration) throws(EngineError) {
        self.model = model
        self.configuration = configuration
        cacheCapacity = CacheCapacity(configuration: configuration, model: model)
        var initial = EngineStatistics()
        initial.totalBlocks = configuration.cacheBlocks
        statistics = Mutex(initial)
        let started = Mutex<Result<Void, EngineError>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            let loop: EngineLoop
            do throws(EngineError) {
                loop = try EngineLoop(engine: self)
                started.withLock { $0 = .success(()) }
                ready.signal()
            } catch {
                started.withLock { $0 = .failure(error) }
                ready.signal()
                stopped.signal()
                return
            }
            loop.run()
            stopped.signal()
        }
        thread.name = "skiff-engine"
        thread.stackSize = 8 << 20
        thread.start()
        ready.wait()
        if case .failure(let error) = started.withLock({ $0 }) { throw error }
    }

    /// Starts generating `request`. The stream yields text pieces and ends with `.finished`, or throws
    /// `EngineError` when the request is refused (queue full, prompt too long) or fails.
    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        let id: UInt64? = inbox.withLock { inbox in
            guard !inbox.shuttingDown else { return nil }
            let id = inbox.nextID
            inbox.nextID += 1
            inbox.arrivals.append((id, request, continuation))
            return id
        }
        guard let id else {
            continuation.finish(throwing: EngineError(.unavailable, "the engine is shutting down"))
            return stream
        }
        continuation.onTermination = { [weak self] reason in
            if case .cancelled = reason { self?.cancel(id) }
        }
        wake.signal()
        return stream
    }

    /// The current state and counters; requests handed in but not yet taken by the engine thread count as waiting.
    public var currentStatistics: EngineStatistics {
        let arriving = inbox.withLock { $0.arrivals.count }
        var current = statistics.withLock { $0 }
        current.waitingRequests += arriving
        return current
    }

    /// Removes and returns the steps recorded since the last call.
    public func drainSteps() -> [EngineStep] {
        statistics.withLock { s in
            defer { s.recentSteps = [] }
            return s.recentSteps
        }
    }

    /// Stops the engine: queued and running requests end with a cancellation error, the thread exits.
    /// Returns when it has.
    public func shutdown() {
        inbox.withLock { $0.shuttingDown = true }
        wake.signal()
        stopped.wait()
        stopped.signal()
    }

    private func cancel(_ id: UInt64) {
        inbox.withLock { $0.cancellations.append(id) }
        wake.signal()
    }

    // MARK: - Used by the loop

    func takeInbox() -> Inbox {
        inbox.withLock { inbox in
            let taken = inbox
            inbox.arrivals = []
            inbox.cancellations = []
            return taken
        }
    }

    func waitForWork() { wake.wait() }

    func publish(_ update: (inout EngineStatistics) -> Void) {
        statistics.withLock { s in update(&s) }
    }
}

/// The state only the engine thread touches: scheduler, runner, per-request decoding state.
final class EngineLoop {
    struct Active {
        let requestID: UInt64
        let continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation
        let request: GenerationRequest
        var sampler: Sampler
        var detokenizer: StreamingDetokenizer
        var stopMatcher: StopSequenceMatcher
        var counts: [Int32: Int] = [:]
        var generated = 0
        var cachedPromptTokens: Int?
    }

    unowned let engine: InferenceEngine
    let runner: any ModelRunner
    var scheduler: Scheduler
    var active: [Scheduler.SequenceID: Active] = [:]
    var sequenceForRequest: [UInt64: Scheduler.SequenceID] = [:]

    init(engine: InferenceEngine) throws(EngineError) {
        self.engine = engine
        let c = engine.configuration
        let model = engine.model
        do {
            runner = try model.network.makeRunner(RunnerOptions(threads: c.threads, maxBatchTokens: c.maxStepTokens, cacheBlocks: c.cacheBlocks,
                                                                blockSize: c.blockSize, residentCache: c.residentCache))
        } catch {
            throw EngineError(error)
        }
        scheduler = Scheduler(
            configuration: .init(maxStepTokens: c.maxStepTokens, maxRunning: c.maxRunning, maxWaiting: c.maxWaiting,
                                 contextLength: min(c.contextLength, model.contextLength)),
            blocks: KVBlockPool(capacity: c.cacheBlocks, blockSize: c.blockSize, prefixCaching: c.prefixCaching,
                                groups: model.cacheLayout.blockGroups))
    }

    func run() {
        while true {
            let inbox = engine.takeInbox()
            for id in inbox.cancellations {
                guard let sequence = sequenceForRequest.removeValue(forKey: id) else { continue }
                scheduler.finish(sequence)
                active[sequence]?.continuation.finish()
                active[sequence] = nil
            }
            for (id, request, continuation) in inbox.arrivals { admit(id, request, continuation) }
            if inbox.shuttingDown {
                for (_, state) in active { state.continuation.finish(throwing: EngineError(.unavailable, "the engine shut down")) }
                return
            }
            endExpiredRequests()
            let plan = scheduler.schedule()
            guard !plan.work.isEmpty else {
                publishStatistics(step: nil, computedPrompt: 0, generated: 0)
                engine.waitForWork()
                continue
            }
            step(plan)
        }
    }

    /// Ends every request whose deadline has passed, waiting or running, freeing its blocks.
    private func endExpiredRequests() {
        let now = ContinuousClock.now
        for (sequence, state) in active {
            guard let deadline = state.request.deadline, deadline <= now else { continue }
            fail(sequence, EngineError(.timedOut, "the request did not finish within its time limit "
                + "(\(state.generated) tokens generated); raise --request-timeout or lower max_tokens"))
        }
    }

    private func admit(_ id: UInt64, _ request: GenerationRequest,
                       _ continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation) {
        guard request.maxTokens > 0 else {
            continuation.finish(throwing: EngineError(.invalidInput, "max_tokens must be at least 1"))
            return
        }
        switch scheduler.add(prompt: request.prompt) {
        case .success(let sequence):
            sequenceForRequest[id] = sequence
            active[sequence] = Active(requestID: id, continuation: continuation, request: request, sampler: Sampler(request.sampling),
                                      detokenizer: StreamingDetokenizer(tokenizer: engine.model.tokenizer),
                                      stopMatcher: StopSequenceMatcher(stops: request.stop))
        case .failure(.queueFull):
            continuation.finish(throwing: EngineError(.overloaded, "the server is at capacity (\(scheduler.waitingCount) requests waiting); retry shortly"))
        case .failure(.promptTooLong(let tokens, let limit)):
            continuation.finish(throwing: EngineError(.contextOverflow, "the prompt has \(tokens) tokens; this server accepts at most \(limit)"))
        case .failure(.emptyPrompt):
            continuation.finish(throwing: EngineError(.invalidInput, "the prompt is empty"))
        }
    }

    private func step(_ plan: Scheduler.StepPlan) {
        let started = ContinuousClock.now
        var batch = ForwardBatch()
        var computedPrompt = 0
        for work in plan.work {
            guard let tokens = scheduler.tokens(of: work.sequence), let tables = scheduler.blockTables(of: work.sequence) else { continue }
            if active[work.sequence]?.cachedPromptTokens == nil { active[work.sequence]?.cachedPromptTokens = work.start }
            let index = batch.addSequence(blockTables: tables)
            let promptCount = active[work.sequence]?.request.prompt.count ?? 0
            for position in work.start ..< work.start + work.count {
                batch.add(token: tokens[position], position: Int32(position), sequence: index,
                          wantsLogits: work.wantsLogits && position == work.start + work.count - 1)
                if position < promptCount { computedPrompt += 1 }
            }
        }
        let logits: [Float]
        do {
            logits = try runner.forward(batch)
        } catch {
            for work in plan.work { fail(work.sequence, EngineError(error)) }
            return
        }
        scheduler.commit(plan)
        let vocabulary = engine.model.vocabularySize
        var row = 0
        var generated = 0
        logits.withUnsafeBufferPointer { all in
            for work in plan.work where work.wantsLogits {
                let slice = UnsafeBufferPointer(rebasing: all[row * vocabulary ..< (row + 1) * vocabulary])
                row += 1
                if emitNextToken(for: work.sequence, logits: slice) { generated += 1 }
            }
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        publishStatistics(step: EngineStep(tokens: plan.tokenCount, sequences: plan.work.count, seconds: seconds),
                          computedPrompt: computedPrompt, generated: generated)
    }

    /// Samples, streams and books the next token of `sequence`; finishes it when it is done. Returns
    /// whether a token was generated.
    private func emitNextToken(for sequence: Scheduler.SequenceID, logits: UnsafeBufferPointer<Float>) -> Bool {
        guard var state = active[sequence] else { return false }
        let tokenizer = engine.model.tokenizer
        let masksEnd = state.request.ignoreEndOfGeneration || state.generated < state.request.minTokens
        let token = state.sampler.sample(logits: logits, counts: state.counts,
                                         excluding: masksEnd ? tokenizer.endOfGenerationTokens : [])
        if tokenizer.isEndOfGeneration(token) {
            complete(sequence, .stop, flushing: true)
            return false
        }
        state.generated += 1
        state.counts[token, default: 0] += 1
        let piece = state.detokenizer.append(token)
        let (text, hitStop) = state.stopMatcher.feed(piece)
        let logprobs = state.request.logprobs.map { [Sampler.logprobs(of: token, top: $0, logits: logits)] } ?? []
        state.continuation.yield(.text(text, tokens: [token], logprobs: logprobs))
        active[sequence] = state
        if hitStop {
            complete(sequence, .stop, flushing: false)
        } else if state.generated >= state.request.maxTokens || !scheduler.append(token, to: sequence) {
            complete(sequence, .length, flushing: true)
        }
        return true
    }

    /// Ends a sequence with `reason`. `flushing` releases text held back by the detokenizer and the stop
    /// matcher (not after a stop sequence matched: nothing after it may be emitted).
    private func complete(_ sequence: Scheduler.SequenceID, _ reason: FinishReason, flushing: Bool) {
        guard var state = active.removeValue(forKey: sequence) else { return }
        if flushing {
            let (text, hitStop) = state.stopMatcher.feed(state.detokenizer.flush())
            let tail = hitStop ? text : text + state.stopMatcher.flush()
            if !tail.isEmpty { state.continuation.yield(.text(tail, tokens: [])) }
        }
        let usage = GenerationUsage(promptTokens: state.request.prompt.count, completionTokens: state.generated,
                                    cachedPromptTokens: state.cachedPromptTokens ?? 0)
        state.continuation.yield(.finished(reason, usage))
        state.continuation.finish()
        scheduler.finish(sequence)
        sequenceForRequest[state.requestID] = nil
    }

    private func fail(_ sequence: Scheduler.SequenceID, _ error: EngineError) {
        if let state = active.removeValue(forKey: sequence) {
            state.continuation.finish(throwing: error)
            sequenceForRequest[state.requestID] = nil
        }
        scheduler.finish(sequence)
    }

    private func publishStatistics(step: EngineStep?, computedPrompt: Int, generated: Int) {
        let blocks = scheduler.blocks
        let waiting = scheduler.waitingCount
        let running = scheduler.runningCount
        let preemptions = scheduler.preemptionCount
        engine.publish { s in
            s.waitingRequests = waiting
            s.runningRequests = running
            s.usedBlocks = blocks.usedCount
            s.prefixCacheQueriedTokens = blocks.queriedTokens
            s.prefixCacheHitTokens = blocks.hitTokens
            s.preemptions = preemptions
            s.promptTokensComputed += computedPrompt
            s.generatedTokens += generated
            if let step {
                s.steps += 1
                if s.recentSteps.count < 1024 { s.recentSteps.append(step) }
            }
        }
    }
}

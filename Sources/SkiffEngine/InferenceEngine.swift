import Foundation
import SkiffGrammar
import SkiffModelFile
import SkiffModels
import SkiffScheduling
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
    /// What the generated text must match (compiled for this model's vocabulary, by `InferenceEngine.grammars`):
    /// every token is chosen among those the grammar allows, an end-of-generation token only once the text is
    /// complete, and generation ends when nothing more may follow. Nil: no constraint.
    public var grammar: CompiledGrammar?

    /// Creates a request.
    public init(prompt: [Int32], sampling: SamplingParameters = .greedy, maxTokens: Int, stop: [String] = [],
                minTokens: Int = 0, ignoreEndOfGeneration: Bool = false, logprobs: Int? = nil,
                deadline: ContinuousClock.Instant? = nil, grammar: CompiledGrammar? = nil) {
        self.grammar = grammar
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

    /// Creates counts.
    public init(promptTokens: Int, completionTokens: Int, cachedPromptTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
    }
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
    /// Where the forward passes compute.
    public var device: ComputeDevice = .cpu
    /// Compute threads of the CPU backend.
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
    /// Prompt states kept for a model with recurrent layers, so prompts sharing a prefix start from its state
    /// (its prefix caching); each holds one sequence's whole state.
    public var stateSnapshots: Int
    /// Whether the KV cache's memory is made resident at start rather than as blocks are first written
    /// (a server's memory then stays what it is at start, as llama.cpp's and vLLM's do).
    public var residentCache: Bool

    /// Creates a configuration.
    public init(threads: Int, maxStepTokens: Int = 512, maxRunning: Int = 64, maxWaiting: Int = 256,
                contextLength: Int, cacheBlocks: Int, blockSize: Int = 16, prefixCaching: Bool = true,
                stateSnapshots: Int = 16, residentCache: Bool = false) {
        self.threads = threads
        self.maxStepTokens = maxStepTokens
        self.maxRunning = maxRunning
        self.maxWaiting = maxWaiting
        self.contextLength = contextLength
        self.cacheBlocks = cacheBlocks
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        self.stateSnapshots = stateSnapshots
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
    /// Bytes of one sequence's recurrent state over all layers, whatever its length (0 without recurrent layers).
    public var stateBytesPerSequence: Int
    /// States held at once: one per running sequence and the prefix cache's snapshots (0 without recurrent layers).
    public var stateSlots: Int
    /// Of `stateSlots`, those that keep prefix snapshots: none when prefix caching is off.
    public var stateSnapshots: Int

    init(configuration c: EngineConfiguration, model: LoadedModel) {
        let layout = model.cacheLayout
        bytesPerToken = KVCacheStorage.bytesPerElement * layout.kvElementsPerToken
        bytes = c.cacheBlocks * c.blockSize * KVCacheStorage.bytesPerBlockToken(for: layout)
        contextLength = min(c.contextLength, model.contextLength)
        fullContextSequences = c.cacheBlocks / layout.blocksPerSequence(tokens: contextLength, blockSize: c.blockSize, stepTokens: c.maxStepTokens)
        stateBytesPerSequence = RecurrentStateStorage.bytesPerElement * layout.stateElementsPerSequence
        stateSnapshots = layout.hasRecurrentLayers && c.prefixCaching ? c.stateSnapshots : 0
        stateSlots = layout.hasRecurrentLayers ? c.maxRunning + stateSnapshots : 0
    }
}

/// Generates text for many requests at once: a thread of its own drives an `EngineCore` (continuous
/// batching over a paged, prefix-shared KV cache) through the model and hands each request its tokens.
///
/// Requests arrive from any task through `generate(_:)`, whose stream turns the tokens into text in the
/// caller's task; dropping or cancelling the stream cancels the request at the next step and frees its
/// cache blocks.
public final class InferenceEngine: Sendable {
    /// The model being served.
    public let model: LoadedModel
    /// The limits in force.
    public let configuration: EngineConfiguration
    /// The KV cache as sized: bytes per token and sequences that fit at the full context.
    public let cacheCapacity: CacheCapacity
    /// Output constraints compiled for this model's vocabulary (`GenerationRequest.grammar`).
    public let grammars: GrammarCache
    /// Whether prompts reuse cached prefixes: as configured, and for a model with recurrent layers only with
    /// room for state snapshots.
    public var prefixCaching: Bool {
        configuration.prefixCaching && (!model.cacheLayout.hasRecurrentLayers || cacheCapacity.stateSnapshots > 0)
    }

    private let inbox = Mutex(Inbox())
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let statistics: Mutex<EngineStatistics>

    /// A request's tokens, as the engine thread hands them to the caller's stream.
    typealias TokenStream = AsyncThrowingStream<EngineCore.Output, any Error>

    struct Inbox: Sendable {
        var arrivals: [(EngineCore.RequestID, GenerationRequest, TokenStream.Continuation)] = []
        var cancellations: [EngineCore.RequestID] = []
        var nextID: EngineCore.RequestID = 1
        var shuttingDown = false
    }

    /// Loads the runner on a new thread and starts the step loop.
    public init(model: LoadedModel, configuration: EngineConfiguration) throws(EngineError) {
        self.model = model
        self.configuration = configuration
        cacheCapacity = CacheCapacity(configuration: configuration, model: model)
        let tokenizer = model.tokenizer
        grammars = GrammarCache { (0 ..< Int32(tokenizer.vocabularySize)).map { tokenizer.generatedBytes($0) } }
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
    public func generate(_ request: GenerationRequest) -> GenerationStream {
        let (stream, continuation) = TokenStream.makeStream()
        let id: EngineCore.RequestID? = inbox.withLock { inbox in
            guard !inbox.shuttingDown else { return nil }
            let id = inbox.nextID
            inbox.nextID += 1
            inbox.arrivals.append((id, request, continuation))
            return id
        }
        let text = TextAssembler(tokenizer: model.tokenizer, stops: request.stop)
        guard let id else {
            continuation.finish(throwing: EngineError(.unavailable, "the engine is shutting down"))
            return GenerationStream(tokens: stream, text: text, promptTokens: request.prompt.count, cancel: {})
        }
        continuation.onTermination = { [weak self] reason in
            if case .cancelled = reason { self?.cancel(id) }
        }
        wake.signal()
        return GenerationStream(tokens: stream, text: text, promptTokens: request.prompt.count) { [weak self] in self?.cancel(id) }
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

    private func cancel(_ id: EngineCore.RequestID) {
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

/// The engine thread: it feeds the core the inbox and the clock, runs its steps through the model, and
/// delivers its outputs to the requests' streams. No policy lives here.
final class EngineLoop {
    unowned let engine: InferenceEngine
    let runner: any ModelRunner
    var core: EngineCore
    var streams: [EngineCore.RequestID: InferenceEngine.TokenStream.Continuation] = [:]

    init(engine: InferenceEngine) throws(EngineError) {
        self.engine = engine
        let c = engine.configuration
        let model = engine.model
        do {
            var options = RunnerOptions(threads: c.threads, maxBatchTokens: c.maxStepTokens, cacheBlocks: c.cacheBlocks, blockSize: c.blockSize,
                                        stateSlots: engine.cacheCapacity.stateSlots, residentCache: c.residentCache)
            options.device = c.device
            runner = try model.network.makeRunner(options)
        } catch {
            throw EngineError(error)
        }
        core = EngineCore(
            configuration: .init(
                scheduler: .init(maxStepTokens: c.maxStepTokens, maxRunning: c.maxRunning, maxWaiting: c.maxWaiting,
                                 contextLength: engine.cacheCapacity.contextLength),
                vocabularySize: model.vocabularySize, endOfGeneration: model.tokenizer.endOfGenerationTokens),
            blocks: KVBlockPool(capacity: c.cacheBlocks, blockSize: c.blockSize, prefixCaching: engine.prefixCaching,
                                groups: model.cacheLayout.blockGroups, snapshotCapacity: engine.cacheCapacity.stateSnapshots))
    }

    func run() {
        while true {
            let inbox = engine.takeInbox()
            for id in inbox.cancellations {
                core.cancel(id)
                streams.removeValue(forKey: id)?.finish()
            }
            for (id, request, stream) in inbox.arrivals {
                if let refusal = core.submit(id, request) {
                    stream.finish(throwing: refusal)
                } else {
                    streams[id] = stream
                }
            }
            if inbox.shuttingDown {
                deliver(core.failAll(EngineError(.unavailable, "the engine shut down")))
                return
            }
            deliver(core.expire(now: .now))
            guard let step = core.nextStep() else {
                publishStatistics(step: nil, computedPrompt: 0, generated: 0)
                engine.waitForWork()
                continue
            }
            let started = ContinuousClock.now
            let outputs: [EngineCore.Output]
            // The token masks of constrained sequences are computed while the forward pass runs.
            let masks = GrammarMasks(core.grammarWork(for: step))
            do {
                for copy in core.takeStateCopies() { try runner.copyState(from: copy.from, to: copy.to) }
                let logits = try runner.forward(step.batch)
                outputs = core.complete(step, logits: logits, grammar: masks.wait())
            } catch {
                _ = masks.wait()
                outputs = core.fail(step, EngineError(error))
            }
            deliver(outputs)
            let generated = outputs.reduce(0) { if case .token = $1 { $0 + 1 } else { $0 } }
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            publishStatistics(step: EngineStep(tokens: step.batch.count, sequences: step.batch.blockTables.count, seconds: seconds),
                              computedPrompt: step.promptTokens, generated: generated)
        }
    }

    private func deliver(_ outputs: [EngineCore.Output]) {
        for output in outputs {
            switch output {
            case .token(let id, _, _, _):
                streams[id]?.yield(output)
            case .finished(let id, _, _):
                streams[id]?.yield(output)
                streams.removeValue(forKey: id)?.finish()
            case .failed(let id, let error):
                streams.removeValue(forKey: id)?.finish(throwing: error)
            }
        }
    }

    private func publishStatistics(step: EngineStep?, computedPrompt: Int, generated: Int) {
        let scheduler = core.scheduler
        let blocks = scheduler.blocks
        engine.publish { s in
            s.waitingRequests = scheduler.waitingCount
            s.runningRequests = scheduler.runningCount
            s.usedBlocks = blocks.usedCount
            s.prefixCacheQueriedTokens = blocks.queriedTokens
            s.prefixCacheHitTokens = blocks.hitTokens
            s.preemptions = scheduler.preemptionCount
            s.promptTokensComputed += computedPrompt
            s.generatedTokens += generated
            if let step {
                s.steps += 1
                if s.recentSteps.count < 1024 { s.recentSteps.append(step) }
            }
        }
    }
}

/// Token masks computed on a thread of their own, from the step's start until the step's logits are back.
final class GrammarMasks: Sendable {
    private let work: Mutex<[EngineCore.GrammarWork]>
    private let done = DispatchSemaphore(value: 0)
    private let started: Bool

    init(_ work: [EngineCore.GrammarWork]) {
        self.work = Mutex(work)
        started = !work.isEmpty
        guard started else { return }
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            self.work.withLock { all in
                for i in all.indices { all[i].computeMask() }
            }
            done.signal()
        }
    }

    /// The work with its masks, once they are computed.
    func wait() -> [EngineCore.GrammarWork] {
        if started { done.wait() }
        return work.withLock { $0 }
    }
}

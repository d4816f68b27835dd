import SkiffEngine
import SkiffScheduling
import SkiffModels
import Testing

/// The engine's policy, driven step by step with made-up logits: no model, no thread, no clock.
@Suite struct EngineCoreTests {
    /// A vocabulary of 8 tokens; 7 ends generation.
    static let vocabulary = 8
    static let end: Int32 = 7

    func core(context: Int = 40, waiting: Int = 4, blocks: Int = 16) -> EngineCore {
        EngineCore(configuration: .init(scheduler: .init(maxStepTokens: 16, maxRunning: 4, maxWaiting: waiting, contextLength: context),
                                        vocabularySize: Self.vocabulary, endOfGeneration: [Self.end]),
                   blocks: KVBlockPool(capacity: blocks, blockSize: 16, prefixCaching: true))
    }

    /// Runs the next step, every sequence whose logits it wants getting `favored` as its clear favourite.
    func step(_ core: inout EngineCore, favored: Int32) -> [EngineCore.Output]? {
        guard let step = core.nextStep() else { return nil }
        var logits: [Float] = []
        for _ in step.batch.logitIndices {
            logits += (0 ..< Self.vocabulary).map { $0 == Int(favored) ? 10 : 0 }
        }
        return core.complete(step, logits: logits)
    }

    func tokens(_ outputs: [EngineCore.Output]) -> [Int32] {
        outputs.compactMap { if case .token(_, let token, _, _) = $0 { token } else { nil } }
    }

    @Test func everyLimitIsCheckedOnSubmission() {
        var c = core(context: 40, waiting: 1)
        #expect(c.submit(1, GenerationRequest(prompt: [1, 2], maxTokens: 0))?.code == .invalidInput)
        #expect(c.submit(2, GenerationRequest(prompt: [], maxTokens: 4))?.code == .invalidInput)
        #expect(c.submit(3, GenerationRequest(prompt: [1, 8], maxTokens: 4))?.message.contains("outside the vocabulary") == true)
        let full = c.submit(4, GenerationRequest(prompt: Array(repeating: 1, count: 40), maxTokens: 4))
        #expect(full?.code == .contextOverflow && full?.message.contains("maximum context length is 40 tokens") == true)
        #expect(c.submit(5, GenerationRequest(prompt: [1, 2], maxTokens: 4)) == nil)
        #expect(c.submit(6, GenerationRequest(prompt: [1, 2], maxTokens: 4))?.code == .overloaded)
        #expect(c.requestCount == 1)
    }

    @Test func aRequestGetsItsTokensThenItsEnd() throws {
        var c = core()
        #expect(c.submit(1, GenerationRequest(prompt: [1, 2, 3], maxTokens: 3)) == nil)
        var outputs: [EngineCore.Output] = []
        while let more = step(&c, favored: 4) { outputs += more }
        #expect(tokens(outputs) == [4, 4, 4])
        #expect(outputs.last == .finished(1, .length, GenerationUsage(promptTokens: 3, completionTokens: 3, cachedPromptTokens: 0)))
        #expect(c.scheduler.blocks.usedCount == 0 && c.requestCount == 0)
    }

    @Test func theEndTokenStopsUnlessMinTokensMasksIt() {
        var c = core()
        _ = c.submit(1, GenerationRequest(prompt: [1, 2], maxTokens: 10))
        let stopped = step(&c, favored: Self.end)
        #expect(stopped == [.finished(1, .stop, GenerationUsage(promptTokens: 2, completionTokens: 0, cachedPromptTokens: 0))])

        _ = c.submit(2, GenerationRequest(prompt: [1, 2], maxTokens: 10, minTokens: 2))
        var outputs: [EngineCore.Output] = []
        while let more = step(&c, favored: Self.end) { outputs += more }
        // With the end masked, the next likeliest token (the first of the equal rest) is taken twice.
        #expect(tokens(outputs) == [0, 0])
        #expect(outputs.last == .finished(2, .stop, GenerationUsage(promptTokens: 2, completionTokens: 2, cachedPromptTokens: 0)))
    }

    @Test func maxTokensIsCappedByTheContext() {
        var c = core(context: 40)
        _ = c.submit(1, GenerationRequest(prompt: Array(repeating: 1, count: 37), maxTokens: 100))
        var outputs: [EngineCore.Output] = []
        while let more = step(&c, favored: 5) { outputs += more }
        #expect(tokens(outputs).count == 3)
        #expect(outputs.last == .finished(1, .length, GenerationUsage(promptTokens: 37, completionTokens: 3, cachedPromptTokens: 0)))
    }

    @Test func deadlinesCancellationsAndFailedStepsFreeTheirBlocks() throws {
        var c = core()
        let now = ContinuousClock.now
        _ = c.submit(1, GenerationRequest(prompt: [1, 2], maxTokens: 10, deadline: now + .seconds(5)))
        _ = c.submit(2, GenerationRequest(prompt: [3, 4], maxTokens: 10))
        _ = c.submit(3, GenerationRequest(prompt: [5, 6], maxTokens: 10))
        _ = step(&c, favored: 1)
        #expect(c.expire(now: now).isEmpty)
        let expired = c.expire(now: now + .seconds(5))
        #expect(expired.count == 1)
        guard case .failed(1, let error) = expired.first else { Issue.record("request 1 did not time out"); return }
        #expect(error.code == .timedOut)
        c.cancel(2)
        #expect(c.requestCount == 1)
        let next = c.nextStep()
        let failing = try #require(next)
        #expect(c.fail(failing, EngineError(.model, "the device went away")) == [.failed(3, EngineError(.model, "the device went away"))])
        #expect(c.scheduler.blocks.usedCount == 0 && c.requestCount == 0 && c.nextStep() == nil)
    }

    /// Logits that are not finite numbers (a model whose numbers broke down) fail that request with a message,
    /// free its blocks, and leave the others running.
    @Test func nonFiniteLogitsFailTheirRequestOnly() throws {
        var c = core()
        _ = c.submit(1, GenerationRequest(prompt: [1, 2], maxTokens: 4))
        _ = c.submit(2, GenerationRequest(prompt: [3, 4], maxTokens: 4))
        let next = c.nextStep()
        let first = try #require(next)
        #expect(first.batch.logitIndices.count == 2)
        var logits = (0 ..< 2 * Self.vocabulary).map { Float($0 % Self.vocabulary == 5 ? 10 : 0) }
        logits[3] = .nan
        let outputs = c.complete(first, logits: logits)
        guard case .failed(1, let error) = outputs.first else { Issue.record("request 1 did not fail: \(outputs)"); return }
        #expect(error.code == .model && error.message.contains("not a finite number (nan for token 3)"))
        #expect(tokens(outputs) == [5])
        #expect(c.requestCount == 1)
        while step(&c, favored: 5) != nil {}
        #expect(c.scheduler.blocks.usedCount == 0 && c.requestCount == 0)
    }

    @Test func requestsArrivingLaterJoinTheRunningBatch() {
        var c = core()
        _ = c.submit(1, GenerationRequest(prompt: [1, 2, 3], maxTokens: 4))
        #expect(tokens(step(&c, favored: 2) ?? []) == [2])
        _ = c.submit(2, GenerationRequest(prompt: [1, 2, 3], maxTokens: 2))
        let next = c.nextStep()
        // One decode token for the first, the second's three prompt tokens, in one batch.
        #expect(next?.batch.count == 4 && next?.batch.blockTables.count == 2 && next?.promptTokens == 3)
    }
}

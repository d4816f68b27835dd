import SkiffEngine
import SkiffModelFile
import Testing

/// The engine with the real default model: concurrent requests, stop strings, cancellation, refusals.
@Suite(.serialized) struct InferenceEngineTests {
    static func engine(blocks: Int = 256, maxWaiting: Int = 64, prefixCaching: Bool = true) throws -> InferenceEngine {
        try InferenceEngine(model: TestModel.load(),
                            configuration: EngineConfiguration(threads: 2, maxStepTokens: 128, maxRunning: 16,
                                                               maxWaiting: maxWaiting, contextLength: 1024,
                                                               cacheBlocks: blocks, prefixCaching: prefixCaching))
    }

    /// Collects a request's text, tokens and finish.
    static func collect(_ stream: GenerationStream) async throws
        -> (text: String, tokens: [Int32], finish: FinishReason?, usage: GenerationUsage?) {
        var text = "", tokens: [Int32] = [], finish: FinishReason?, usage: GenerationUsage?
        for try await event in stream {
            switch event {
            case .text(let piece, let ids, _):
                text += piece
                tokens += ids
            case .finished(let reason, let u):
                finish = reason
                usage = u
            }
        }
        return (text, tokens, finish, usage)
    }

    /// Waits until the engine holds no blocks (it frees a request's at its next step), at most a minute.
    static func waitForFreeBlocks(_ engine: InferenceEngine) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while engine.currentStatistics.usedBlocks != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func chat(_ model: LoadedModel, _ text: String) throws -> [Int32] {
        try model.promptTokens(for: [.init(role: "user", content: text)])
    }

    /// Many concurrent greedy requests produce what each produces alone in a single-sequence session.
    @Test func concurrentRequestsMatchSingleSequenceGeneration() async throws {
        let model = try TestModel.load()
        let questions = ["What is 2 plus 2?", "Name a color.", "Say hello in French.", "What is the capital of Italy?",
                         "Count to five.", "What do bees make?"]
        var expected: [[Int32]] = []
        let session = try GenerationSession(model: model, contextLength: 256, threads: 2)
        for q in questions {
            session.reset()
            var sampler = Sampler(.greedy)
            let logits = try session.append(try chat(model, q))
            expected.append(try session.generate(from: logits, maxTokens: 24, sampler: &sampler) { _ in true }.tokens)
        }
        let engine = try Self.engine()
        defer { engine.shutdown() }
        let prompts = try questions.map { try chat(model, $0) }
        let results = try await withThrowingTaskGroup(of: (Int, [Int32], GenerationUsage?).self) { group in
            for (i, prompt) in prompts.enumerated() {
                group.addTask {
                    let r = try await Self.collect(engine.generate(GenerationRequest(prompt: prompt, maxTokens: 24)))
                    return (i, r.tokens, r.usage)
                }
            }
            var out = [[Int32]](repeating: [], count: prompts.count)
            for try await (i, tokens, usage) in group {
                out[i] = tokens
                #expect(usage?.promptTokens == prompts[i].count)
                #expect(usage?.completionTokens == tokens.count)
            }
            return out
        }
        for i in questions.indices {
            #expect(results[i] == expected[i], "'\(questions[i])'")
        }
        // The engine publishes its counters just after the step that ended the last stream.
        let generated = results.map(\.count).reduce(0, +)
        var stats = engine.currentStatistics
        let deadline = ContinuousClock.now + .seconds(60)
        while stats.usedBlocks != 0 || stats.generatedTokens != generated, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            stats = engine.currentStatistics
        }
        #expect(stats.usedBlocks == 0 && stats.runningRequests == 0)
        #expect(stats.generatedTokens == generated)
    }

    @Test func stopStringsEndGenerationAndAreNotEmitted() async throws {
        let model = try TestModel.load()
        let engine = try Self.engine()
        defer { engine.shutdown() }
        let prompt = try chat(model, "Explain in one sentence what a CPU does.")
        // Greedy answer starts "A CPU (Central Processing Unit) is the brain"; stop inside a word.
        let r = try await Self.collect(engine.generate(GenerationRequest(prompt: prompt, maxTokens: 40, stop: ["Process"])))
        #expect(r.text == "A CPU (Central ")
        #expect(r.finish == .stop)
        let limited = try await Self.collect(engine.generate(GenerationRequest(prompt: prompt, maxTokens: 3)))
        #expect(limited.finish == .length && limited.tokens.count == 3)
        #expect(limited.text == model.tokenizer.decode(limited.tokens))
    }

    @Test func sharedPromptsHitThePrefixCache() async throws {
        let model = try TestModel.load()
        let engine = try Self.engine()
        defer { engine.shutdown() }
        let system = String(repeating: "You are a careful assistant who answers briefly. ", count: 8)
        let first = try model.promptTokens(for: [.init(role: "system", content: system), .init(role: "user", content: "Hi")])
        let second = try model.promptTokens(for: [.init(role: "system", content: system), .init(role: "user", content: "Bye")])
        let a = try await Self.collect(engine.generate(GenerationRequest(prompt: first, maxTokens: 2)))
        let b = try await Self.collect(engine.generate(GenerationRequest(prompt: second, maxTokens: 2)))
        #expect(a.usage?.cachedPromptTokens == 0)
        let shared = zip(first, second).prefix { $0 == $1 }.count
        #expect(b.usage?.cachedPromptTokens == shared / 16 * 16)
        #expect((b.usage?.cachedPromptTokens ?? 0) >= 64)
    }

    @Test func cancellingAStreamFreesItsBlocks() async throws {
        let model = try TestModel.load()
        let engine = try Self.engine()
        defer { engine.shutdown() }
        let prompt = try chat(model, "Tell me a very long story about the sea.")
        let task = Task {
            var count = 0
            for try await event in engine.generate(GenerationRequest(prompt: prompt, sampling: .init(temperature: 0.7, seed: 1), maxTokens: 500)) {
                if case .text = event { count += 1 }
                if count == 5 { break }
            }
            return count
        }
        #expect(try await task.value == 5)
        try await Self.waitForFreeBlocks(engine)
        #expect(engine.currentStatistics.usedBlocks == 0)
        #expect(engine.currentStatistics.runningRequests == 0)
    }

    @Test func aRequestPastItsDeadlineEndsAndFreesItsBlocks() async throws {
        let model = try TestModel.load()
        let engine = try Self.engine()
        defer { engine.shutdown() }
        let prompt = try chat(model, "Tell me a very long story about the sea.")
        // 900 tokens take seconds on any machine: the 300 ms deadline passes first.
        let request = GenerationRequest(prompt: prompt, maxTokens: 900, ignoreEndOfGeneration: true,
                                        deadline: .now + .milliseconds(300))
        await #expect { try await Self.collect(engine.generate(request)) }
            throws: { ($0 as? EngineError)?.code == .timedOut }
        try await Self.waitForFreeBlocks(engine)
        #expect(engine.currentStatistics.usedBlocks == 0)
        #expect(engine.currentStatistics.runningRequests == 0)
    }

    @Test func refusesPromptsTooLongAndTooManyWaiting() async throws {
        let model = try TestModel.load()
        let engine = try Self.engine(maxWaiting: 1)
        defer { engine.shutdown() }
        await #expect { try await Self.collect(engine.generate(GenerationRequest(prompt: Array(repeating: 100, count: 2000), maxTokens: 4))) }
            throws: { ($0 as? EngineError)?.code == .contextOverflow }
        await #expect { try await Self.collect(engine.generate(GenerationRequest(prompt: [], maxTokens: 4))) }
            throws: { ($0 as? EngineError)?.code == .invalidInput }
        // Flood the queue: some requests are refused as overloaded, the rest complete.
        let prompt = try chat(model, "Hello")
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0 ..< 40 {
                group.addTask {
                    do {
                        _ = try await Self.collect(engine.generate(GenerationRequest(prompt: prompt, maxTokens: 2)))
                        return "ok"
                    } catch let error as EngineError {
                        return error.code == .overloaded ? "overloaded" : "other"
                    } catch {
                        return "other"
                    }
                }
            }
            var all: [String] = []
            for await o in group { all.append(o) }
            return all
        }
        #expect(outcomes.contains("ok"))
        #expect(outcomes.contains("overloaded"))
        #expect(!outcomes.contains("other"))
    }
}

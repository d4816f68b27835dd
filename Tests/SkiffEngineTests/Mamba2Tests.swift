import Foundation
import GGUFTestSupport
import SkiffEngine
import SkiffModelFile
import SkiffModels
import Testing

/// The mamba2 architecture on the tiny random model (`TinyModel`): in F32 against llama.cpp over long greedy
/// runs, and its recurrent state through the engine's continuous batching, chunked prompts, slot reuse and
/// preemption. (The mixed-type model's logits against llama.cpp are in `TinyArchitectureTests`.)
@Suite(.serialized) struct Mamba2Tests {
    /// The tiny model of `architecture` written to a temporary file and loaded (also to SKIFF_TINY_MODEL_DIR,
    /// when set, for llama.cpp to read).
    static func load(_ architecture: String = "mamba2", allF32: Bool) -> Result<LoadedModel, ModelFileError> {
        let name = allF32 ? "tiny-\(architecture)-f32" : "tiny-\(architecture)"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-\(name)-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let data = TinyModel.build(architecture: architecture, allF32: allF32).build()
            try data.write(to: URL(fileURLWithPath: path))
            if let directory = ProcessInfo.processInfo.environment["SKIFF_TINY_MODEL_DIR"] {
                try data.write(to: URL(fileURLWithPath: "\(directory)/\(name).gguf"))
            }
        } catch {
            return .failure(ModelFileError(.model, "could not write the tiny model: \(error)"))
        }
        return Result { () throws(ModelFileError) in try LoadedModel(path: path) }
    }

    static let model = load(allF32: false)
    static let modelF32 = load(allF32: true)
    /// The state-space architectures' tiny models, for the engine's tests.
    static let models = ["mamba2": model, "llamba": load("llamba", allF32: false)]

    /// llama.cpp's answers on the F32 model (`Fixtures/mamba2-f32.json`): per prompt, the logits after it, 256
    /// greedy tokens and the top-2 margin at each (llama-cpp-python 0.3.36's vendor tree, CPU, 2 threads).
    struct Expected: Decodable {
        var prompt: [Int32]
        var logits: [Float]
        var greedy: [Int32]
        var gaps: [Float]
    }

    /// The largest logit difference allowed on the F32 model (measured: 6.2e-6, the largest logit about 3; the
    /// smallest top-2 margin in llama.cpp's 768 greedy steps is 0.0013).
    static let f32Tolerance: Float = 1e-4

    /// Sixteen prompts of 5 to 50 scattered tokens (none a special token).
    static let prompts: [[Int32]] = (0 ..< 16).map { (i: Int) -> [Int32] in
        (0 ..< 5 + 3 * i).map { (j: Int) -> Int32 in
            let scattered: Int = i * 37 + j * 101 + j * j * 7
            return Int32(3 + scattered % 317)
        }
    }

    /// What each prompt gives alone: greedy, in a session that computes the prompt in one pass.
    static func alone(_ model: LoadedModel, maxTokens: Int) throws -> [[Int32]] {
        let session = try GenerationSession(model: model, contextLength: 128, threads: 2)
        return try prompts.map { prompt in
            session.reset()
            var sampler = Sampler(.greedy)
            return try session.generate(from: try session.append(prompt), maxTokens: maxTokens, sampler: &sampler) { _ in true }.tokens
        }
    }

    /// All prompts at once through an engine; returns each one's tokens and the engine's preemptions.
    static func together(_ model: LoadedModel, maxRunning: Int, blocks: Int, maxTokens: Int) async throws -> ([[Int32]], Int) {
        let engine = try InferenceEngine(model: model, configuration: EngineConfiguration(
            threads: 2, maxStepTokens: 16, maxRunning: maxRunning, maxWaiting: 64, contextLength: 128, cacheBlocks: blocks))
        defer { engine.shutdown() }
        let results = try await withThrowingTaskGroup(of: (Int, [Int32]).self) { group in
            for (i, prompt) in prompts.enumerated() {
                group.addTask {
                    var tokens: [Int32] = []
                    for try await event in engine.generate(GenerationRequest(prompt: prompt, maxTokens: maxTokens)) {
                        if case .text(_, let ids, _) = event { tokens += ids }
                    }
                    return (i, tokens)
                }
            }
            var out = [[Int32]](repeating: [], count: prompts.count)
            for try await (i, tokens) in group { out[i] = tokens }
            return out
        }
        return (results, engine.currentStatistics.preemptions)
    }

    /// Three prompts that differ only in their first or third token: the logits after each within 1e-4 of
    /// llama.cpp's, then 256 greedy tokens identical to its, and the three continuations differ from each
    /// other, so the state carries the early tokens that far.
    @Test func matchesLlamaCppInF32() throws {
        let model = try Self.modelF32.get()
        let url = try #require(Bundle.module.url(forResource: "mamba2-f32", withExtension: "json", subdirectory: "Fixtures"))
        let expected = try JSONDecoder().decode([Expected].self, from: Data(contentsOf: url))
        #expect(expected.count == 3)
        let session = try GenerationSession(model: model, contextLength: 512, threads: 2)
        var continuations: [[Int32]] = []
        for e in expected {
            session.reset()
            let logits = try session.append(e.prompt)
            let worst = zip(logits, e.logits).map { abs($0 - $1) }.max() ?? .infinity
            #expect(logits.count == e.logits.count)
            #expect(worst <= Self.f32Tolerance, "largest logit difference \(worst)")
            // Token by token past any end-of-generation id, as llama.cpp's run went on.
            var greedy: [Int32] = []
            var next = logits
            for _ in 0 ..< e.greedy.count {
                let token = Int32(next.indices.max { next[$0] < next[$1] }!)
                greedy.append(token)
                next = try session.append([token])
            }
            #expect(e.greedy.count == 256)
            #expect(greedy == e.greedy)
            continuations.append(greedy)
        }
        #expect(Set(continuations).count == 3)
    }

    @Test func loadsWithARecurrentStatePerLayer() throws {
        let model = try Self.model.get()
        #expect(model.architecture == "mamba2")
        // Per layer: 3 convolution inputs of 128 + 2 × 2 × 16 channels, and 128 × 16 of scan state.
        #expect(model.cacheLayout.layers == Array(repeating: .recurrent(convolution: 3 * 192, scan: 128 * 16), count: 3))
        #expect(model.cacheLayout.kvElementsPerToken == 0)
    }

    /// Sixteen sequences decoding side by side, their prompts prefilled in 16-token chunks among the others'
    /// decodes, each give exactly the tokens they give alone.
    @Test(arguments: ["mamba2", "llamba"])
    func concurrentSequencesGiveWhatEachGivesAlone(architecture: String) async throws {
        let model = try #require(Self.models[architecture]).get()
        let expected = try Self.alone(model, maxTokens: 20)
        #expect(expected.map(\.count).reduce(0, +) > 16 * 10)
        let (tokens, preemptions) = try await Self.together(model, maxRunning: 16, blocks: 16 * 8, maxTokens: 20)
        #expect(preemptions == 0)
        for i in Self.prompts.indices { #expect(tokens[i] == expected[i], "prompt \(i)") }
    }

    /// Four state slots for sixteen requests and too few blocks for four long ones: slots are reused as
    /// sequences end, preempted sequences start their state afresh, and every answer is still its own.
    @Test(arguments: ["mamba2", "llamba"])
    func slotsAreReusedAndPreemptedSequencesStartAfresh(architecture: String) async throws {
        let model = try #require(Self.models[architecture]).get()
        let expected = try Self.alone(model, maxTokens: 20)
        let (tokens, preemptions) = try await Self.together(model, maxRunning: 4, blocks: 12, maxTokens: 20)
        #expect(preemptions > 0)
        for i in Self.prompts.indices { #expect(tokens[i] == expected[i], "prompt \(i)") }
    }

    /// Prompts sharing a 40-token system prompt: the first one's state is kept at its last full block (32
    /// tokens, inside the shared part), and the others start from it, giving exactly the tokens they give
    /// without any cache.
    @Test(arguments: ["mamba2", "llamba"])
    func sharedPromptsStartFromAStateSnapshot(architecture: String) async throws {
        let model = try #require(Self.models[architecture]).get()
        let system = (0 ..< 40).map { (j: Int) -> Int32 in Int32(3 + (j * 53) % 317) }
        let prompts = (0 ..< 6).map { (i: Int) -> [Int32] in
            system + (0 ..< 5 + i).map { (j: Int) -> Int32 in Int32(3 + (i * 71 + j * 13) % 317) }
        }
        let session = try GenerationSession(model: model, contextLength: 128, threads: 2)
        let expected = try prompts.map { prompt in
            session.reset()
            var sampler = Sampler(.greedy)
            return try session.generate(from: try session.append(prompt), maxTokens: 12, sampler: &sampler) { _ in true }.tokens
        }
        let engine = try InferenceEngine(model: model, configuration: EngineConfiguration(
            threads: 2, maxStepTokens: 16, maxRunning: 4, maxWaiting: 16, contextLength: 128, cacheBlocks: 4 * 8 + 4 * 8,
            stateSnapshots: 4))
        defer { engine.shutdown() }
        #expect(engine.prefixCaching)
        func generate(_ prompt: [Int32]) async throws -> [Int32] {
            var tokens: [Int32] = []
            for try await event in engine.generate(GenerationRequest(prompt: prompt, maxTokens: 12)) {
                if case .text(_, let ids, _) = event { tokens += ids }
            }
            return tokens
        }
        #expect(try await generate(prompts[0]) == expected[0])
        let rest = try await withThrowingTaskGroup(of: (Int, [Int32]).self) { group in
            for i in 1 ..< prompts.count { group.addTask { (i, try await generate(prompts[i])) } }
            var out: [Int: [Int32]] = [:]
            for try await (i, tokens) in group { out[i] = tokens }
            return out
        }
        for i in 1 ..< prompts.count { #expect(rest[i] == expected[i], "prompt \(i)") }
        // Each later prompt found the 32 tokens before the snapshot.
        #expect(engine.currentStatistics.prefixCacheHitTokens == 32 * (prompts.count - 1))
    }

    /// A runner refuses a batch that does not continue a slot's state: a sequence resuming at the wrong
    /// position, or its tokens out of order.
    @Test func aBatchMustContinueItsSlotsState() throws {
        let model = try Self.model.get()
        let runner = try model.network.makeRunner(RunnerOptions(threads: 1, maxBatchTokens: 8, cacheBlocks: 4, blockSize: 16, stateSlots: 2))
        var first = ForwardBatch()
        let s = first.addSequence(blockTables: [[0]], stateSlot: 1)
        for p in 0 ..< 3 { first.add(token: 5, position: Int32(p), sequence: s, wantsLogits: p == 2) }
        _ = try runner.forward(first)

        func refused(_ build: (inout ForwardBatch) -> Void) -> String? {
            var batch = ForwardBatch()
            build(&batch)
            do {
                _ = try runner.forward(batch)
                return nil
            } catch {
                return error.message
            }
        }
        let skipped = refused { b in let s = b.addSequence(blockTables: [[0]], stateSlot: 1); b.add(token: 5, position: 4, sequence: s, wantsLogits: true) }
        #expect(skipped?.contains("after 3 tokens") == true)
        let unordered = refused { b in
            let s = b.addSequence(blockTables: [[0]], stateSlot: 0)
            b.add(token: 5, position: 0, sequence: s, wantsLogits: false)
            b.add(token: 5, position: 2, sequence: s, wantsLogits: true)
        }
        #expect(unordered?.contains("does not follow") == true)
        let noSlot = refused { b in let s = b.addSequence(blockTables: [[0]], stateSlot: 2); b.add(token: 5, position: 0, sequence: s, wantsLogits: true) }
        #expect(noSlot?.contains("does not exist") == true)
    }
}

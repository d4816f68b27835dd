import SkiffChatTemplate
import SkiffEngine
import SkiffHyperparameters
import Testing

/// The catalog's Gemma 3 270M through the gemma3 architecture.
@Suite(.serialized) struct Gemma3Tests {
    /// Its cache: 18 layers of one KV head of 256, five of every six with a 512-token window.
    @Test func loadsWithItsSlidingWindowLayout() throws {
        let model = try TestModel.gemma.get()
        #expect(model.architecture == "gemma3")
        #expect(model.vocabularySize == 262_144)
        let windows = model.cacheLayout.layers.map { layer -> Int? in
            guard case .attention(1, 256, 256, let window) = layer else { return -1 }
            return window
        }
        #expect(windows == (0 ..< 18).map { ($0 + 1) % 6 == 0 ? nil : 512 })
    }

    /// The file has no chat template; its vocabulary has Gemma's turn markers, so conversations use them.
    @Test func conversationsUseGemmasTurns() throws {
        let model = try TestModel.gemma.get()
        #expect(model.chatTemplateOrigin.hasPrefix("built-in gemma"))
        let tokens = try model.promptTokens(for: [ChatMessage(role: "user", content: "Hi")])
        let text = model.tokenizer.decode(tokens, renderSpecial: true)
        #expect(text == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
        #expect(tokens.first == model.tokenizer.bos)
        #expect(model.tokenizer.specialTokenID("<end_of_turn>").map(model.tokenizer.isEndOfGeneration) == true)
    }

    /// A prompt past the 512-token window, prefilled in 96-token chunks, in a cache too small to keep every
    /// layer at full length: the sliding-window layers let their old blocks go, and those blocks go on to
    /// hold later tokens. Greedy tokens equal a session's that computed the prompt in one pass.
    @Test func theEngineLetsWindowBlocksGoAndAnswersAsASessionDoes() async throws {
        let model = try TestModel.gemma.get()
        let text = (1 ... 60).map { "Line \($0): the river carries boats past the old mill." }.joined(separator: "\n")
        let prompt = try model.promptTokens(for: [ChatMessage(role: "user", content: text + "\nWhat does the river carry?")])
        #expect(prompt.count > 700)
        let session = try GenerationSession(model: model, contextLength: 1024, threads: 2, batchSize: 1024)
        var sampler = Sampler(.greedy)
        let expected = try session.generate(from: try session.append(prompt), maxTokens: 12, sampler: &sampler) { _ in true }.tokens

        // 1024 tokens: 64 blocks in the global group, at most (512 + 96) / 16 + 1 = 39 in each of the five
        // sliding groups; every layer at full length would need 384.
        let layout = model.cacheLayout
        let blocks = layout.blocksPerSequence(tokens: 1024, blockSize: 16, stepTokens: 96)
        #expect(blocks == 64 + 5 * 39)
        let engine = try InferenceEngine(model: model, configuration: EngineConfiguration(
            threads: 2, maxStepTokens: 96, maxRunning: 1, maxWaiting: 4, contextLength: 1024, cacheBlocks: blocks))
        defer { engine.shutdown() }
        var tokens: [Int32] = []
        for try await event in engine.generate(GenerationRequest(prompt: prompt, maxTokens: 12)) {
            if case .text(_, let ids, _) = event { tokens += ids }
        }
        #expect(tokens == expected)
        #expect(engine.currentStatistics.preemptions == 0)
    }
}


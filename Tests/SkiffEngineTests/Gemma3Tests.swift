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
}

import Foundation
import SkiffEngine
import Testing

/// Greedy continuations of chat prompts compared with llama.cpp's on the same file
/// (Fixtures/greedy-llama-cpp.json, made with llama-server; see its "reference" field).
@Suite(.serialized) struct GreedyGenerationTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var user: String
            var rendered_prompt: String
            var prompt_tokens: [Int32]
            var greedy_tokens: [Int32]
            var decode_greedy_tokens: [Int32]
            var decode_greedy_gaps: [Float]
        }
        var cases: [Case]
    }

    static let fixture: Fixture = {
        let url = Bundle.module.url(forResource: "greedy-llama-cpp", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// A greedy step whose top-2 margin in llama.cpp is below this is a near-tie: the two engines' logits
    /// differ by a few hundredths to tenths (each carries its own quantization noise), so either may rightly
    /// take the other token there, and the continuations part.
    static let nearTie: Float = 0.3

    @Test func chatTemplateTokenizationMatchesLlamaCpp() throws {
        let model = try TestModel.load()
        for c in Self.fixture.cases {
            let tokens = try model.promptTokens(for: [.init(role: "user", content: c.user)])
            #expect(tokens == c.prompt_tokens, "prompt for '\(c.user)'")
        }
    }

    /// Every prompt's greedy continuation equals llama.cpp's up to its first near-tie or end of answer
    /// (at most 16 tokens); over the ten prompts that is most of their tokens, never none.
    @Test func greedyMatchesLlamaCppUpToNearTies() throws {
        let model = try TestModel.load()
        var compared = 0
        for c in Self.fixture.cases {
            let session = try GenerationSession(model: model, contextLength: 256, threads: 2)
            var sampler = Sampler(.greedy)
            let logits = try session.append(c.prompt_tokens)
            let nearTie = c.decode_greedy_gaps.firstIndex { $0 < Self.nearTie } ?? c.decode_greedy_gaps.count
            let end = c.decode_greedy_tokens.firstIndex(where: model.tokenizer.isEndOfGeneration) ?? c.decode_greedy_tokens.count
            let expected = Array(c.decode_greedy_tokens.prefix(min(nearTie, end)))
            guard !expected.isEmpty else { continue }
            let result = try session.generate(from: logits, maxTokens: expected.count, sampler: &sampler) { _ in true }
            #expect(result.tokens == expected, "'\(c.user)'")
            compared += expected.count
        }
        #expect(compared >= 40)
    }
}

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
        }
        var cases: [Case]
    }

    static let fixture: Fixture = {
        let url = Bundle.module.url(forResource: "greedy-llama-cpp", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// Prompts whose llama.cpp continuation has no near-tie in its first 16 tokens (see docs/correctness.md):
    /// Skiff must produce the same tokens, up to 16 or to llama.cpp's end of answer.
    static let agreeingCases = [2, 3, 5, 6, 8, 9]

    @Test func chatTemplateTokenizationMatchesLlamaCpp() throws {
        let model = try TestModel.load()
        for c in Self.fixture.cases {
            let tokens = try model.promptTokens(for: [.init(role: "user", content: c.user)])
            #expect(tokens == c.prompt_tokens, "prompt for '\(c.user)'")
        }
    }

    @Test(arguments: agreeingCases)
    func greedyMatchesLlamaCpp(index: Int) throws {
        let c = Self.fixture.cases[index]
        let model = try TestModel.load()
        let session = try GenerationSession(model: model, contextLength: 256, threads: 2)
        var sampler = Sampler(.greedy)
        let logits = try session.append(c.prompt_tokens)
        let expected = Array(c.greedy_tokens.prefix(16)).filter { !model.tokenizer.isEndOfGeneration($0) }
        let result = try session.generate(from: logits, maxTokens: expected.count, sampler: &sampler) { _ in true }
        #expect(result.tokens == expected, "'\(c.user)'")
    }
}

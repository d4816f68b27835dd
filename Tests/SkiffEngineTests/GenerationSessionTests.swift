import SkiffEngine
import SkiffModelFile
import Testing

@Suite(.serialized) struct GenerationSessionTests {
    @Test func reusingAPrefixGivesTheSameLogits() throws {
        let model = try TestModel.load()
        let session = try GenerationSession(model: model, contextLength: 128, threads: 2, batchSize: 8)
        let prompt = model.tokenizer.encode("The quick brown fox jumps over the lazy dog because", addSpecial: true)
        let whole = try session.append(prompt)
        session.truncate(to: 5)
        #expect(session.tokens == Array(prompt.prefix(5)))
        let resumed = try session.append(Array(prompt[5...]))
        #expect(resumed == whole)

        session.reset()
        var incremental: [Float] = []
        for token in prompt { incremental = try session.append([token]) }
        let worst = zip(incremental, whole).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-3)
    }

    @Test func allLogitsRowsMatchTheLastTokenLogits() throws {
        let model = try TestModel.load()
        let session = try GenerationSession(model: model, contextLength: 64, threads: 2)
        let prompt = model.tokenizer.encode("One two three four five", addSpecial: true)
        let all = try session.append(prompt, allLogits: true)
        let vocabulary = model.vocabularySize
        #expect(all.count == prompt.count * vocabulary)
        session.reset()
        let last = try session.append(prompt)
        #expect(Array(all[(prompt.count - 1) * vocabulary ..< prompt.count * vocabulary]) == last)
    }

    @Test func refusesTokensPastTheContext() throws {
        let model = try TestModel.load()
        let session = try GenerationSession(model: model, contextLength: 16, threads: 1)
        _ = try session.append(Array(repeating: 100, count: 10))
        #expect { try session.append(Array(repeating: 100, count: 7)) } throws: { ($0 as? EngineError)?.code == .contextOverflow }
        #expect(session.tokens.count == 10)
    }

    @Test func generationStopsAtTheTokenLimit() throws {
        let model = try TestModel.load()
        let session = try GenerationSession(model: model, contextLength: 128, threads: 2)
        var sampler = Sampler(SamplingParameters(temperature: 0.8, seed: 5))
        let logits = try session.append(try model.promptTokens(for: [.init(role: "user", content: "Tell me a long story.")]))
        var streamed: [Int32] = []
        let result = try session.generate(from: logits, maxTokens: 6, sampler: &sampler) { streamed.append($0); return true }
        #expect(result.tokens == streamed)
        #expect(result.tokens.count <= 6)
        if result.tokens.count == 6 { #expect(result.finish == .length) }
    }

    @Test func perplexityOfEnglishIsModest() throws {
        let model = try TestModel.load()
        let session = try GenerationSession(model: model, contextLength: 64, threads: 2)
        let text = String(repeating: "The sun rises in the east and sets in the west. Birds sing in the morning, and people go to work. ", count: 6)
        let result = try session.perplexity(of: text, contextLength: 32)
        #expect(result.perChunk.count == result.textTokens / 32)
        #expect(result.scoredTokens == result.perChunk.count * 15)
        // Repeated plain English is easy for the model; a broken forward pass scores in the thousands.
        #expect(result.perplexity > 1 && result.perplexity < 20)
        #expect { try session.perplexity(of: "too short", contextLength: 32) } throws: { ($0 as? EngineError)?.code == .invalidInput }
    }
}

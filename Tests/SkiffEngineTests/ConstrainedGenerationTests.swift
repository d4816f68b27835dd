import SkiffEngine
import SkiffGrammar
import SkiffScheduling
import Testing

/// The engine's policy under an output constraint, with made-up logits: only the tokens the grammar allows are
/// chosen, the end token only once the text is complete, and the text ends when nothing more may follow.
@Suite struct ConstrainedGenerationTests {
    /// Tokens: 0 "a", 1 "b", 2 "ab", 3 "{", 4 "}", 5 "x", 6 a control token, 7 the end token.
    static let pieces: [[UInt8]?] = ["a", "b", "ab", "{", "}", "x"].map { Array($0.utf8) } + [nil, nil]
    static let end: Int32 = 7
    static let trie = TokenTrie(tokens: pieces)

    func core() -> EngineCore {
        EngineCore(configuration: .init(scheduler: .init(maxStepTokens: 16, maxRunning: 4, maxWaiting: 4, contextLength: 40),
                                        vocabularySize: Self.pieces.count, endOfGeneration: [Self.end]),
                   blocks: KVBlockPool(capacity: 16, blockSize: 16, prefixCaching: true))
    }

    func grammar(_ gbnf: String) throws -> CompiledGrammar {
        try CompiledGrammar(try Grammar(gbnf: gbnf), trie: Self.trie)
    }

    /// Runs steps until every request ends; `preference` ranks tokens, likeliest first. With `ahead`, masks are
    /// computed before the logits come back, as the engine's thread does.
    func run(_ core: inout EngineCore, preference: [Int32], ahead: Bool = false) -> [EngineCore.Output] {
        var outputs: [EngineCore.Output] = []
        while let step = core.nextStep() {
            var work = core.grammarWork(for: step)
            if ahead { for i in work.indices { work[i].computeMask() } }
            var logits: [Float] = []
            for _ in step.batch.logitIndices {
                var row = [Float](repeating: -5, count: Self.pieces.count)
                for (rank, token) in preference.enumerated() { row[Int(token)] = Float(10 - rank) }
                logits += row
            }
            outputs += core.complete(step, logits: logits, grammar: work)
        }
        return outputs
    }

    func tokens(_ outputs: [EngineCore.Output]) -> [Int32] {
        outputs.compactMap { if case .token(_, let token, _, _) = $0 { token } else { nil } }
    }

    @Test(arguments: [false, true])
    func onlyAllowedTokensAreChosenAndTheCompleteTextEnds(ahead: Bool) throws {
        var c = core()
        // The model prefers "x", then the end, then "}", "ab": the grammar forces "{" first, then "ab"+ and "}".
        _ = c.submit(1, GenerationRequest(prompt: [0], maxTokens: 20, grammar: try grammar(#"root ::= "{" ("ab")+ "}""#)))
        let outputs = run(&c, preference: [5, Self.end, 4, 2, 3], ahead: ahead)
        #expect(tokens(outputs) == [3, 2, 4])
        #expect(outputs.last == .finished(1, .stop, GenerationUsage(promptTokens: 1, completionTokens: 3, cachedPromptTokens: 0)))
    }

    @Test func theEndTokenIsAllowedWhenTheTextMayEnd() throws {
        var c = core()
        _ = c.submit(1, GenerationRequest(prompt: [0], maxTokens: 20, grammar: try grammar(#"root ::= "a" "b"*"#)))
        let outputs = run(&c, preference: [Self.end, 1, 0])
        #expect(tokens(outputs) == [0])
        #expect(outputs.last == .finished(1, .stop, GenerationUsage(promptTokens: 1, completionTokens: 1, cachedPromptTokens: 0)))
    }

    @Test func aGrammarTheVocabularyCannotContinueFailsItsRequestOnly() throws {
        var c = core()
        _ = c.submit(1, GenerationRequest(prompt: [0], maxTokens: 20, grammar: try grammar(#"root ::= "a" "q""#)))
        _ = c.submit(2, GenerationRequest(prompt: [0], maxTokens: 2))
        let outputs = run(&c, preference: [0])
        let failure = outputs.first { if case .failed(1, _) = $0 { true } else { false } }
        guard case .failed(_, let error)? = failure else {
            Issue.record("request 1 did not fail: \(outputs)")
            return
        }
        #expect(error.code == .invalidInput && error.message.contains("allows no token"))
        #expect(outputs.contains(.finished(2, .length, GenerationUsage(promptTokens: 1, completionTokens: 2, cachedPromptTokens: 0))))
        #expect(c.requestCount == 0 && c.scheduler.blocks.usedCount == 0)
    }

    @Test func maxTokensCutsAConstrainedAnswerShort() throws {
        var c = core()
        _ = c.submit(1, GenerationRequest(prompt: [0], maxTokens: 2, grammar: try grammar(#"root ::= "{" "a"+ "}""#)))
        let outputs = run(&c, preference: [0, 3])
        #expect(tokens(outputs) == [3, 0])
        #expect(outputs.last == .finished(1, .length, GenerationUsage(promptTokens: 1, completionTokens: 2, cachedPromptTokens: 0)))
    }
}

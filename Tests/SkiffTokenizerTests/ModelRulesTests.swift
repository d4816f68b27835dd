import SkiffTokenizer
import Testing

/// Special tokens, BOS/EOS and end-of-generation rules on the real model files.
@Suite("Model rules")
struct ModelRulesTests {
    @Test("SmolLM2: no BOS added, <|im_end|> and <|endoftext|> end generation")
    func smolLMSpecialIDs() throws {
        let tokenizer = try TestModels.smolLM()
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bos == 1)
        #expect(tokenizer.eos == 2)
        #expect(!tokenizer.addsBOS && !tokenizer.addsEOS)
        #expect(tokenizer.encode("Hello", addSpecial: true) == tokenizer.encode("Hello", addSpecial: false))
        #expect(tokenizer.isEndOfGeneration(2))  // <|im_end|>
        #expect(tokenizer.isEndOfGeneration(0))  // <|endoftext|>
        #expect(!tokenizer.isEndOfGeneration(1))  // <|im_start|>
        #expect(tokenizer.tokenText(1) == "<|im_start|>")
        #expect(tokenizer.tokenText(905) == "Ġworld")
        #expect(tokenizer.tokenText(49152) == nil)
        #expect(tokenizer.tokenText(-1) == nil)
    }

    @Test("SmolLM2: chat markers are single tokens only when special tokens are parsed")
    func smolLMParseSpecial() throws {
        let tokenizer = try TestModels.smolLM()
        let text = "<|im_start|>user\nHi<|im_end|>"
        let parsed = tokenizer.encode(text)
        #expect(parsed.first == 1)
        #expect(parsed.last == 2)
        let plain = tokenizer.encode(text, parseSpecial: false)
        #expect(!plain.contains(1) && !plain.contains(2))
        #expect(plain.count > parsed.count)
        #expect(tokenizer.decode(plain) == text)
        #expect(tokenizer.decode(parsed) == "user\nHi")
        #expect(tokenizer.decode(parsed, renderSpecial: true) == text)
    }

    @Test("Gemma 3: BOS added, <end_of_turn> ends generation, user-defined tokens always matched")
    func gemmaRules() throws {
        let tokenizer = try TestModels.gemma()
        #expect(tokenizer.vocabularySize == 262_144)
        #expect(tokenizer.bos == 2 && tokenizer.eos == 1)
        #expect(tokenizer.addsBOS && !tokenizer.addsEOS)
        #expect(tokenizer.encode("Hi").first == 2)
        #expect(tokenizer.encode("Hi", addSpecial: false).first != 2)
        #expect(tokenizer.isEndOfGeneration(1))
        #expect(tokenizer.isEndOfGeneration(106))  // <end_of_turn>
        #expect(!tokenizer.isEndOfGeneration(105))  // <start_of_turn>
        #expect(tokenizer.encode("<start_of_turn>", addSpecial: false) == [105])
        #expect(!tokenizer.encode("<start_of_turn>", addSpecial: false, parseSpecial: false).contains(105))
        // <b> (200) and two spaces (138) are user-defined: matched whole even without special-token parsing.
        #expect(tokenizer.encode("<b>", addSpecial: false, parseSpecial: false) == [200])
        #expect(tokenizer.encode("a  b", addSpecial: false, parseSpecial: false).contains(138))
        #expect(tokenizer.decode([105, 200, 106]) == "<b>")
        #expect(tokenizer.decode([105, 200, 106], renderSpecial: true) == "<start_of_turn><b><end_of_turn>")
    }
}

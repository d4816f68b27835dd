import SkiffGGUF
import SkiffTokenizer
import GGUFTestSupport
import Testing

/// Rules checked on small made-up vocabularies, where the expected ids follow from the rule by hand.
@Suite("Small vocabularies")
struct SyntheticVocabularyTests {
    /// A byte-level BPE file: `tokens` spelled in the byte-level alphabet, `types` defaulting to normal.
    private func bytePair(_ tokens: [String], merges: [String], pre: String? = "gpt-2",
                          edit: (inout GGUFBuilder) -> Void = { _ in }) throws -> Tokenizer {
        var file = GGUFBuilder()
        file["tokenizer.ggml.model"] = .string("gpt2")
        if let pre {
            file["tokenizer.ggml.pre"] = .string(pre)
        }
        file["tokenizer.ggml.tokens"] = .strings(tokens)
        file["tokenizer.ggml.merges"] = .strings(merges)
        edit(&file)
        return try Tokenizer(metadata: file.metadata())
    }

    /// A SentencePiece file with byte tokens for é (C3 A9) and a control token `<ctl>`.
    private func sentencePiece(edit: (inout GGUFBuilder) -> Void = { _ in }) throws -> Tokenizer {
        var file = GGUFBuilder()
        file["tokenizer.ggml.model"] = .string("llama")
        file["tokenizer.ggml.tokens"] = .strings(["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab", "<0xC3>", "<0xA9>", "<ctl>"])
        file["tokenizer.ggml.token_type"] = .int32s([2, 3, 3, 1, 1, 1, 1, 1, 1, 6, 6, 3])
        file["tokenizer.ggml.scores"] = .float32s([0, 0, 0, -1, -2, -3, -1.5, -0.5, -0.2, 0, 0, 0])
        edit(&file)
        return try Tokenizer(metadata: file.metadata())
    }

    @Test("BPE merges apply lowest rank first, leftmost first among equal pairs")
    func mergeOrder() throws {
        let tokens = ["a", "b", "c", "ab", "bc", "abc", "aa"]
        let byRank = try bytePair(tokens, merges: ["a b", "ab c", "b c", "a a"])
        #expect(byRank.encode("abc", addSpecial: false) == [5])
        #expect(byRank.encode("aaa", addSpecial: false) == [6, 0])
        #expect(byRank.encode("aaaa", addSpecial: false) == [6, 6])
        let otherRanks = try bytePair(tokens, merges: ["b c", "a b", "ab c"])
        #expect(otherRanks.encode("abc", addSpecial: false) == [0, 4])
    }

    @Test("Llama 3 emits a word that is a vocabulary entry whole, and adds BOS unless the file says not to")
    func llama3Rules() throws {
        let tokens = ["a", "b", "c", "abc", "<s>"]
        let llama3 = try bytePair(tokens, merges: [], pre: "llama3") { $0["tokenizer.ggml.bos_token_id"] = .uint32(4) }
        #expect(llama3.addsBOS)
        #expect(llama3.encode("abc") == [4, 3])
        let gpt2 = try bytePair(tokens, merges: [])
        #expect(!gpt2.addsBOS)
        #expect(gpt2.encode("abc") == [0, 1, 2])
        let noBOS = try bytePair(tokens, merges: [], pre: "llama3") {
            $0["tokenizer.ggml.bos_token_id"] = .uint32(4)
            $0["tokenizer.ggml.add_bos_token"] = .bool(false)
        }
        #expect(noBOS.encode("abc") == [3])
        let error = #expect(throws: TokenizerError.self) { try bytePair(tokens, merges: [], pre: "llama3") }
        #expect(error?.code == .invalidMetadata)
    }

    @Test("end-of-turn markers end generation and count as control tokens even when typed normal")
    func endOfTurn() throws {
        let tokenizer = try bytePair(["a", "<", "|", "<|im_end|>", "<|eot|>"], merges: []) {
            $0["tokenizer.ggml.eot_token_id"] = .uint32(4)
        }
        #expect(tokenizer.isEndOfGeneration(3))
        #expect(tokenizer.isEndOfGeneration(4))
        #expect(!tokenizer.isEndOfGeneration(0))
        #expect(tokenizer.eos == nil)
        #expect(tokenizer.encode("a<|im_end|>") == [0, 3])
        #expect(tokenizer.decode([0, 3]) == "a")
        #expect(tokenizer.decode([0, 3], renderSpecial: true) == "a<|im_end|>")
    }

    @Test("SentencePiece merges by score, adds BOS and a space prefix by default, and strips it when decoding")
    func sentencePieceDefaults() throws {
        let tokenizer = try sentencePiece()
        #expect(tokenizer.bos == 1 && tokenizer.eos == 2 && tokenizer.addsBOS && !tokenizer.addsEOS)
        // "▁ab": "ab" (-0.5) beats "▁a" (-1.5), then "▁ab" (-0.2).
        #expect(tokenizer.encode("ab") == [1, 8])
        #expect(tokenizer.decode([1, 8]) == "ab")
        #expect(tokenizer.decode([1, 8], renderSpecial: true) == "<s>ab")
        // llama.cpp also puts the prefix space before text that follows a special token.
        #expect(tokenizer.encode("a<ctl>a") == [1, 6, 11, 6])
    }

    @Test("SentencePiece byte fallback, unknown token, and add_space_prefix = false")
    func sentencePieceFallbacks() throws {
        let tokenizer = try sentencePiece { $0["tokenizer.ggml.add_space_prefix"] = .bool(false) }
        #expect(tokenizer.encode("ab", addSpecial: false) == [7])
        #expect(tokenizer.encode("é", addSpecial: false) == [9, 10])
        #expect(tokenizer.decode([9, 10]) == "é")
        #expect(tokenizer.encode("z", addSpecial: false) == [0])
        #expect(tokenizer.decode([0]) == "")
        #expect(tokenizer.decode([0], renderSpecial: true) == "<unk>")
        #expect(tokenizer.encode("<ctl>", addSpecial: false, parseSpecial: true) == [11])
        #expect(tokenizer.encode("<ctl>", addSpecial: false, parseSpecial: false).contains(11) == false)
    }

    @Test("errors name the key at fault and what is supported")
    func errors() throws {
        var file = GGUFBuilder()
        file["tokenizer.ggml.tokens"] = .strings(["a"])
        var error = #expect(throws: TokenizerError.self) { try Tokenizer(metadata: file.metadata()) }
        #expect(error?.code == .missingKey)
        #expect(error?.message.contains("tokenizer.ggml.model") == true)

        file["tokenizer.ggml.model"] = .string("bert")
        error = #expect(throws: TokenizerError.self) { try Tokenizer(metadata: file.metadata()) }
        #expect(error?.code == .unsupportedModel)
        #expect(error?.description.contains("'bert'") == true)
        #expect(error?.description.contains("gpt2") == true)

        file["tokenizer.ggml.model"] = .string("gpt2")
        error = #expect(throws: TokenizerError.self) { try Tokenizer(metadata: file.metadata()) }
        #expect(error?.code == .missingKey)
        #expect(error?.message.contains("tokenizer.ggml.merges") == true)

        error = #expect(throws: TokenizerError.self) { try bytePair(["a"], merges: [], pre: "kimi-k2") }
        #expect(error?.code == .unsupportedPreTokenizer)
        #expect(error?.message.contains("llama-bpe") == true)

        error = #expect(throws: TokenizerError.self) { try bytePair(["a", "b"], merges: ["ab"]) }
        #expect(error?.code == .invalidMetadata)

        error = #expect(throws: TokenizerError.self) {
            try bytePair(["a", "b"], merges: []) { $0["tokenizer.ggml.token_type"] = .int32s([1]) }
        }
        #expect(error?.code == .invalidMetadata)

        file = GGUFBuilder()
        file["tokenizer.ggml.model"] = .string("llama")
        error = #expect(throws: TokenizerError.self) { try Tokenizer(metadata: file.metadata()) }
        #expect(error?.code == .missingKey)
        #expect(error?.message.contains("tokenizer.ggml.tokens") == true)
    }
}

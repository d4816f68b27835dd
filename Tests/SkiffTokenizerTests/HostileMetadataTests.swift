import SkiffGGUF
import SkiffTokenizer
import GGUFTestSupport
import Testing

/// Model files whose tokenizer metadata a reader would rely on and that is wrong: each is refused with an
/// error naming the key and the value, never read past the vocabulary or silently replaced by a default.
@Suite("Hostile tokenizer metadata")
struct HostileMetadataTests {
    /// A valid SentencePiece vocabulary of 6 tokens, then `edit`.
    static func sentencePiece(_ edit: (inout GGUFBuilder) -> Void) throws -> Tokenizer {
        var file = GGUFBuilder()
        file["tokenizer.ggml.model"] = .string("llama")
        file["tokenizer.ggml.tokens"] = .strings(["<unk>", "<s>", "</s>", "▁", "a", "▁a"])
        file["tokenizer.ggml.token_type"] = .int32s([2, 3, 3, 1, 1, 1])
        file["tokenizer.ggml.scores"] = .float32s([0, 0, 0, -1, -2, -0.5])
        edit(&file)
        return try Tokenizer(metadata: file.metadata())
    }

    /// A valid byte-level BPE vocabulary of 3 tokens, then `edit`.
    static func bytePair(_ edit: (inout GGUFBuilder) -> Void) throws -> Tokenizer {
        var file = GGUFBuilder()
        file["tokenizer.ggml.model"] = .string("gpt2")
        file["tokenizer.ggml.pre"] = .string("gpt-2")
        file["tokenizer.ggml.tokens"] = .strings(["a", "b", "ab"])
        file["tokenizer.ggml.merges"] = .strings(["a b"])
        edit(&file)
        return try Tokenizer(metadata: file.metadata())
    }

    static let cases: [(edit: @Sendable (inout GGUFBuilder) -> Void, message: String)] = [
        ({ $0["tokenizer.ggml.bos_token_id"] = .uint32(6) },
         "GGUF key 'tokenizer.ggml.bos_token_id' is 6; it must be a token id from 0 to 5 (the vocabulary has 6 tokens)"),
        ({ $0["tokenizer.ggml.eos_token_id"] = .uint32(4_000_000_000) },
         "GGUF key 'tokenizer.ggml.eos_token_id' is 4000000000; it must be a token id from 0 to 5 (the vocabulary has 6 tokens)"),
        ({ $0["tokenizer.ggml.unknown_token_id"] = .string("<unk>") },
         "GGUF key 'tokenizer.ggml.unknown_token_id' is \"<unk>\"; it must be a token id from 0 to 5 (the vocabulary has 6 tokens)"),
        ({ $0["tokenizer.ggml.eot_token_id"] = .uint32(99) },
         "GGUF key 'tokenizer.ggml.eot_token_id' is 99; it must be a token id from 0 to 5 (the vocabulary has 6 tokens)"),
        ({ $0["tokenizer.ggml.eom_token_id"] = .uint32(6) },
         "GGUF key 'tokenizer.ggml.eom_token_id' is 6; it must be a token id from 0 to 5 (the vocabulary has 6 tokens)"),
        ({ $0["tokenizer.ggml.token_type"] = .int32s([2, 3, 3, 1, 1]) },
         "GGUF key 'tokenizer.ggml.token_type' is an array of 5 values; it must be an array of integers with one entry per token (6)"),
        ({ $0["tokenizer.ggml.token_type"] = .int32s([2, 3, 3, 1, 1, 1, 1]) },
         "GGUF key 'tokenizer.ggml.token_type' is an array of 7 values; it must be an array of integers with one entry per token (6)"),
        ({ $0["tokenizer.ggml.token_type"] = .int32s([2, 3, 3, 1, 9, 1]) },
         "GGUF key 'tokenizer.ggml.token_type' is 9 for token 4; token types are 0 to 6"),
        ({ $0["tokenizer.ggml.token_type"] = .int32s([2, 3, 3, -1, 1, 1]) },
         "GGUF key 'tokenizer.ggml.token_type' is -1 for token 3; token types are 0 to 6"),
        ({ $0["tokenizer.ggml.scores"] = .float32s([0, 0, 0, -1, -2]) },
         "GGUF key 'tokenizer.ggml.scores' is an array of 5 values; it must be an array of numbers with one entry per token (6)"),
        ({ $0["tokenizer.ggml.scores"] = .float32s([0, 0, 0, -1, .nan, -0.5]) },
         "GGUF key 'tokenizer.ggml.scores' is nan for token 4; scores must be finite numbers"),
        ({ $0["tokenizer.ggml.scores"] = .float32s([0, 0, 0, -.infinity, -2, -0.5]) },
         "GGUF key 'tokenizer.ggml.scores' is -inf for token 3; scores must be finite numbers"),
        ({ $0["tokenizer.ggml.add_bos_token"] = .uint32(1) }, "GGUF key 'tokenizer.ggml.add_bos_token' is 1; it must be a boolean"),
        ({ $0["tokenizer.ggml.add_eos_token"] = .string("yes") }, "GGUF key 'tokenizer.ggml.add_eos_token' is \"yes\"; it must be a boolean"),
        ({ $0["tokenizer.ggml.add_space_prefix"] = .uint32(0) }, "GGUF key 'tokenizer.ggml.add_space_prefix' is 0; it must be a boolean"),
        ({ $0["tokenizer.ggml.model"] = .uint32(1) }, "GGUF key 'tokenizer.ggml.model' is 1; it must be a string"),
    ]

    @Test("SentencePiece metadata out of range or of the wrong type is refused, naming key and value", arguments: cases.indices)
    func sentencePieceMetadata(_ index: Int) {
        let (edit, message) = Self.cases[index]
        let error = #expect(throws: TokenizerError.self) { try Self.sentencePiece(edit) }
        #expect(error?.code == .invalidMetadata)
        #expect(error?.message == message)
    }

    @Test("byte-level BPE: special ids and the pre-tokenizer name are checked too")
    func bytePairMetadata() throws {
        var error = #expect(throws: TokenizerError.self) { try Self.bytePair { $0["tokenizer.ggml.bos_token_id"] = .uint32(3) } }
        #expect(error?.message == "GGUF key 'tokenizer.ggml.bos_token_id' is 3; it must be a token id from 0 to 2 (the vocabulary has 3 tokens)")
        error = #expect(throws: TokenizerError.self) { try Self.bytePair { $0["tokenizer.ggml.pre"] = .uint32(2) } }
        #expect(error?.message == "GGUF key 'tokenizer.ggml.pre' is 2; it must be a string")
        // Ids inside the vocabulary, and absent ids, are fine.
        let tokenizer = try Self.bytePair { $0["tokenizer.ggml.eos_token_id"] = .uint32(2) }
        #expect(tokenizer.eos == 2 && tokenizer.bos == nil)
        #expect(try Self.sentencePiece { _ in }.bos == 1)
    }
}

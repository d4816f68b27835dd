import SkiffGGUF

/// Text to token ids and back, built from a GGUF model's `tokenizer.ggml.*` metadata.
///
/// Two algorithms are supported, chosen by `tokenizer.ggml.model`:
/// - `gpt2`: byte-level BPE with merge ranks, after the pre-tokenizer split that `tokenizer.ggml.pre` names
///   (`default`, `gpt-2`/`gpt2`/`mpt`/`olmo`, `starcoder`/`refact`/`smollm`, `llama3`/`llama-v3`/`llama-bpe`,
///   `qwen2`/`deepseek-r1-qwen`; other names are rejected with the list);
/// - `llama`: SentencePiece-style BPE driven by `tokenizer.ggml.scores`, with byte fallback.
/// Other algorithms (WordPiece, Unigram, RWKV...) are rejected when the tokenizer is built.
///
/// BOS/EOS and special-token rules are llama.cpp's. The ids are tested against Hugging Face `tokenizers`
/// (SmolLM2), SentencePiece (Gemma 3) and llama.cpp. Special tokens written in the text are matched
/// leftmost-longest, as in Hugging Face; llama.cpp's text-based retyping of `</s>` as a control token is not
/// copied (it is a user-defined HTML tag in Gemma 3's vocabulary).
///
/// A `Tokenizer` is an immutable value: share it freely across tasks.
public struct Tokenizer: Sendable {
    private enum Encoder: Sendable {
        case bytePair(BytePairEncoder, PreTokenizer)
        case sentencePiece(SentencePieceTokenizer, addsSpacePrefix: Bool)
    }

    private let vocabulary: Vocabulary
    private let encoder: Encoder
    private let specialTokens: SpecialTokenMatcher
    /// What each id renders as, in bytes (empty for unused entries).
    private let pieces: ByteStringTable

    /// The tokenizer algorithms this build implements, for error messages.
    static let supportedModels = ["gpt2 (byte-level BPE)", "llama (SentencePiece BPE)"]

    /// Builds the tokenizer from a model file's metadata.
    ///
    /// Reads `tokenizer.ggml.model`, `.pre`, `.tokens`, `.token_type`, `.merges` or `.scores`, the special token
    /// ids and `.add_bos_token` / `.add_eos_token` / `.add_space_prefix`; when a flag or id is absent, uses
    /// llama.cpp's default for the model type (SentencePiece: BOS 1, EOS 2, unknown 0, add BOS, add a space
    /// prefix; BPE: no BOS unless the pre-tokenizer is Llama 3's). Does not read the chat template.
    ///
    /// Every value read is checked: a special-token id outside the vocabulary, a token type outside 0 to 6,
    /// a per-token array of another length than the vocabulary, a score that is not finite, or a value of
    /// the wrong type is an error naming the key and the value (llama.cpp instead warns about a bad id and
    /// uses the default).
    /// - Throws: `TokenizerError` naming the missing or unsupported key or value.
    public init(metadata: GGUFMetadata) throws(TokenizerError) {
        guard let model = try metadata.tokenizerString("tokenizer.ggml.model") else {
            throw TokenizerError(.missingKey, "the model has no tokenizer: tokenizer.ggml.model is missing")
        }
        switch model {
        case "gpt2":
            let preTokenizer = try PreTokenizer(name: metadata.tokenizerString("tokenizer.ggml.pre"))
            vocabulary = try Vocabulary(metadata: metadata, defaults: .init(addsBOS: preTokenizer.addsBOSByDefault))
            guard let merges = metadata.strings("tokenizer.ggml.merges") else {
                throw TokenizerError(.missingKey, "byte-level BPE needs tokenizer.ggml.merges, which is missing or not an array of strings")
            }
            let encoder = try BytePairEncoder(spelledTokens: vocabulary.tokens, merges: merges,
                                              wordsMatchWhole: preTokenizer.wordsMatchVocabularyWhole)
            self.encoder = .bytePair(encoder, preTokenizer)
        case "llama":
            vocabulary = try Vocabulary(metadata: metadata, defaults: .init(bos: 1, eos: 2, unknown: 0, addsBOS: true))
            var scores = [Float](repeating: 0, count: vocabulary.tokens.count)
            if let value = metadata["tokenizer.ggml.scores"] {
                guard let stored = metadata.floats("tokenizer.ggml.scores"), stored.count == scores.count else {
                    throw TokenizerError(.invalidMetadata, GGUFError.invalidValue(
                        key: "tokenizer.ggml.scores", value: value,
                        requirement: "an array of numbers with one entry per token (\(scores.count))").message)
                }
                if let id = stored.firstIndex(where: { !$0.isFinite }) {
                    throw TokenizerError(.invalidMetadata, "GGUF key 'tokenizer.ggml.scores' is \(stored[id]) for token \(id); scores must be finite numbers")
                }
                scores = stored
            }
            let encoder = SentencePieceTokenizer(tokens: vocabulary.tokens, scores: scores, unknown: vocabulary.unknown)
            self.encoder = .sentencePiece(encoder, addsSpacePrefix: try metadata.tokenizerBool("tokenizer.ggml.add_space_prefix") ?? true)
        default:
            throw TokenizerError(
                .unsupportedModel,
                "tokenizer.ggml.model = '\(model)' is not supported; supported: " + Self.supportedModels.joined(separator: ", ")
            )
        }

        let vocabulary = vocabulary
        specialTokens = SpecialTokenMatcher(vocabulary.types.indices.compactMap { id in
            let type = vocabulary.types[id]
            guard type.isMatchedAsSpecial else { return nil }
            return (vocabulary.tokens[id], Int32(id), type == .userDefined)
        })
        let spellsBytes = if case .bytePair = encoder { true } else { false }
        pieces = ByteStringTable(vocabulary.tokens.indices.map { id in
            Self.rendering(vocabulary.tokens[id], type: vocabulary.types[id], byteLevel: spellsBytes)
        }) { _ in false }
    }

    /// The id of the special (control or user-defined) token spelled `text`, such as `<|im_start|>`; nil when
    /// the vocabulary has no such token.
    public func specialTokenID(_ text: String) -> Int32? {
        let ids = encode(text, addSpecial: false, parseSpecial: true)
        guard ids.count == 1, tokenText(ids[0]) == text, vocabulary.types[Int(ids[0])].isMatchedAsSpecial else { return nil }
        return ids[0]
    }

    /// The number of entries in the vocabulary; valid ids are `0 ..< vocabularySize`.
    public var vocabularySize: Int { vocabulary.tokens.count }

    /// The beginning-of-sequence token, if the model has one.
    public var bos: Int32? { vocabulary.bos }

    /// The end-of-sequence token, if the model has one.
    public var eos: Int32? { vocabulary.eos }

    /// Whether `encode(_:addSpecial: true)` puts BOS first (`tokenizer.ggml.add_bos_token` or the model type's default).
    public var addsBOS: Bool { vocabulary.addsBOS }

    /// Whether `encode(_:addSpecial: true)` puts EOS last (`tokenizer.ggml.add_eos_token`, false when absent).
    public var addsEOS: Bool { vocabulary.addsEOS }

    /// Whether generating `id` ends the turn: EOS, the file's EOT/EOM ids, and tokens spelled like a known
    /// end-of-turn marker (`<|im_end|>`, `<end_of_turn>`, `<|eot_id|>`, `<|endoftext|>`...).
    public func isEndOfGeneration(_ id: Int32) -> Bool {
        vocabulary.endOfGeneration.contains(id)
    }

    /// Every token whose generation ends the turn (see `isEndOfGeneration`).
    public var endOfGenerationTokens: Set<Int32> { vocabulary.endOfGeneration }

    /// The bytes `id` renders as on its own, control tokens included (the OpenAI `bytes` of a logprob entry);
    /// empty for ids outside the vocabulary.
    public func tokenBytes(_ id: Int32) -> [UInt8] {
        var atStart = false
        var bytes: [UInt8] = []
        appendPiece(id, renderSpecial: true, atStart: &atStart, to: &bytes)
        return bytes
    }

    /// The bytes `id` adds to generated text after its first token: none for control tokens, which are left out of
    /// the text, and for ids outside the vocabulary. (The first token of a SentencePiece text with a space prefix
    /// loses its leading space; `StreamingDetokenizer` handles that.)
    public func generatedBytes(_ id: Int32) -> [UInt8] {
        var atStart = false
        var bytes: [UInt8] = []
        appendPiece(id, renderSpecial: false, atStart: &atStart, to: &bytes)
        return bytes
    }

    /// The vocabulary entry for `id` exactly as the file stores it (byte-level spelling such as `Ġworld`,
    /// or SentencePiece's `▁world`), or nil for an id outside the vocabulary. Use `decode` for display text.
    public func tokenText(_ id: Int32) -> String? {
        (0 ..< vocabulary.tokens.count).contains(Int(id)) ? vocabulary.tokens[Int(id)] : nil
    }

    /// The token ids of `text`.
    ///
    /// - Parameters:
    ///   - addSpecial: add BOS first and/or EOS last as the model asks (`addsBOS`, `addsEOS`).
    ///   - parseSpecial: find control tokens written in the text (`<|im_start|>`, `<start_of_turn>`) and emit
    ///     them as single ids, as for chat-template output; when false they are tokenized as plain text.
    ///     User-defined tokens (type 4) are matched either way, as in llama.cpp.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        var text = text
        return text.withUTF8 { utf8 in
            var output: [Int32] = []
            output.reserveCapacity(utf8.count / 3 + 2)
            if addSpecial, vocabulary.addsBOS, let bos = vocabulary.bos {
                output.append(bos)
            }
            var afterSpecial = true
            for fragment in specialTokens.split(utf8, parseSpecial: parseSpecial) {
                switch fragment {
                case .token(let id):
                    output.append(id)
                    afterSpecial = true
                case .text(let range):
                    encodeText(UnsafeBufferPointer(rebasing: utf8[range]), afterSpecial: afterSpecial, into: &output)
                    afterSpecial = false
                }
            }
            if addSpecial, vocabulary.addsEOS, let eos = vocabulary.eos {
                output.append(eos)
            }
            return output
        }
    }

    /// The text of `ids`.
    ///
    /// Byte-level and byte-fallback tokens are joined into UTF-8 before conversion, so characters split across
    /// tokens come out whole; a sequence that is invalid or cut off at the end becomes U+FFFD. Control tokens
    /// (and the unknown token) are left out unless `renderSpecial` is true; user-defined tokens always render.
    /// Ids outside the vocabulary render as nothing. No clean-up of spaces is done, so `decode(encode(x))`
    /// gives back `x` (except, for SentencePiece models, a literal `▁` in `x`, which reads back as a space).
    /// For output produced a token at a time, use `StreamingDetokenizer`.
    public func decode(_ ids: [Int32], renderSpecial: Bool = false) -> String {
        var raw: [UInt8] = []
        var atStart = true
        for id in ids {
            appendPiece(id, renderSpecial: renderSpecial, atStart: &atStart, to: &raw)
        }
        var assembler = UTF8Assembler()
        var valid: [UInt8] = []
        valid.reserveCapacity(raw.count)
        assembler.append(raw, to: &valid)
        assembler.finish(to: &valid)
        return String(decoding: valid, as: UTF8.self)
    }

    /// Appends the bytes `id` renders as. With SentencePiece's space prefix, the space the encoder put in front
    /// of the first text is dropped from the first piece that renders (`atStart` tracks that).
    func appendPiece(_ id: Int32, renderSpecial: Bool, atStart: inout Bool, to bytes: inout [UInt8]) {
        guard (0 ..< pieces.count).contains(Int(id)) else { return }
        let type = vocabulary.types[Int(id)]
        if type.isHiddenByDefault && !renderSpecial {
            return
        }
        var piece = pieces[Int(id)]
        guard !piece.isEmpty else { return }
        if atStart, case .sentencePiece(_, addsSpacePrefix: true) = encoder, !type.isHiddenByDefault {
            atStart = false
            if piece.first == 0x20 {
                piece = piece.dropFirst()
            }
        }
        bytes += piece
    }

    private func encodeText(_ text: UnsafeBufferPointer<UInt8>, afterSpecial: Bool, into output: inout [Int32]) {
        switch encoder {
        case .bytePair(let bytePair, let preTokenizer):
            let scalars = ScalarText(utf8: text)
            for word in preTokenizer.split(scalars) {
                bytePair.encode(UnsafeBufferPointer(rebasing: text[scalars.byteRange(word)]), into: &output)
            }
        case .sentencePiece(let sentencePiece, let addsSpacePrefix):
            // As llama.cpp: the prefix space goes before the first text and before text that follows a special token.
            sentencePiece.encode(text, prependSpace: addsSpacePrefix && afterSpecial, into: &output)
        }
    }

    /// The bytes an entry renders as: the literal text for control and user-defined entries, the byte of a
    /// byte-fallback entry, the byte-level or `▁`-escaped spelling undone for normal entries, nothing for unused ones.
    private static func rendering(_ text: String, type: TokenType, byteLevel: Bool) -> [UInt8] {
        switch type {
        case .control, .userDefined, .unknown:
            return Array(text.utf8)
        case .unused, .undefined:
            return []
        case .byte:
            if let byte = byteFallbackValue(text) {
                return [byte]
            }
            fallthrough
        case .normal:
            if byteLevel {
                return ByteLevelAlphabet.bytes(spelledBy: text) ?? Array(text.utf8)
            }
            let utf8 = Array(text.utf8)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(utf8.count)
            var i = 0
            while i < utf8.count {
                if utf8[i...].starts(with: SentencePieceTokenizer.escapedSpace) {
                    bytes.append(0x20)
                    i += 3
                } else {
                    bytes.append(utf8[i])
                    i += 1
                }
            }
            return bytes
        }
    }

    /// The byte a `<0xNN>` entry stands for.
    private static func byteFallbackValue(_ text: String) -> UInt8? {
        guard text.utf8.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">") else { return nil }
        return UInt8(text.dropFirst(3).prefix(2), radix: 16)
    }
}

import SkiffGGUF

/// What a model file says about its tokens, whatever algorithm splits text into them: the entries, their
/// types, the BOS/EOS/unknown ids, whether BOS/EOS are added, and which tokens end a generation.
struct Vocabulary: Sendable {
    /// The values used when the file lacks a key (llama.cpp's per-model-type defaults).
    struct Defaults {
        var bos: Int32?
        var eos: Int32?
        var unknown: Int32?
        var addsBOS: Bool
    }

    /// The entries as stored in `tokenizer.ggml.tokens`.
    let tokens: [String]
    /// The type of each entry (`.normal` for all when the file has no `tokenizer.ggml.token_type`).
    let types: [TokenType]
    let bos: Int32?
    let eos: Int32?
    let unknown: Int32?
    let addsBOS: Bool
    let addsEOS: Bool
    /// EOS, EOT and EOM, plus every entry spelled like a known end-of-turn marker.
    let endOfGeneration: Set<Int32>

    /// Texts that end a turn in common chat formats (from llama.cpp's end-of-generation detection).
    static let endOfTurnTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>",
        "<|end_of_text|>", "<end_of_utterance>",
    ]

    /// Reads the vocabulary keys of `metadata`.
    init(metadata: GGUFMetadata, defaults: Defaults) throws(TokenizerError) {
        guard let tokens = metadata.strings("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw TokenizerError(.missingKey, "the model has no vocabulary: tokenizer.ggml.tokens is missing, empty or not an array of strings")
        }
        guard tokens.count <= Int(Int32.max) else {
            throw TokenizerError(.invalidMetadata, "tokenizer.ggml.tokens has \(tokens.count) entries, more than 32-bit token ids can address")
        }
        self.tokens = tokens

        var types = [TokenType](repeating: .normal, count: tokens.count)
        if let value = metadata["tokenizer.ggml.token_type"] {
            guard let raw = metadata.ints("tokenizer.ggml.token_type"), raw.count == tokens.count else {
                throw TokenizerError(.invalidMetadata, GGUFError.invalidValue(
                    key: "tokenizer.ggml.token_type", value: value,
                    requirement: "an array of integers with one entry per token (\(tokens.count))").message)
            }
            for (id, rawType) in raw.enumerated() {
                guard let type = TokenType(metadataValue: rawType) else {
                    throw TokenizerError(.invalidMetadata, "GGUF key 'tokenizer.ggml.token_type' is \(rawType) for token \(id); "
                                         + "token types are 0 to \(TokenType.byte.rawValue)")
                }
                types[id] = type
            }
        }

        /// The id stored under `key`, which must be in the vocabulary; `fallback` when the key is absent and
        /// that is (llama.cpp's default for the model type).
        func tokenID(_ key: String, default fallback: Int32?) throws(TokenizerError) -> Int32? {
            guard let value = metadata[key] else {
                return fallback.flatMap { (0 ..< tokens.count).contains(Int($0)) ? $0 : nil }
            }
            guard let id = value.int, (0 ..< tokens.count).contains(id) else {
                throw TokenizerError(.invalidMetadata, GGUFError.invalidValue(
                    key: key, value: value, requirement: "a token id from 0 to \(tokens.count - 1) (the vocabulary has \(tokens.count) tokens)").message)
            }
            return Int32(id)
        }
        bos = try tokenID("tokenizer.ggml.bos_token_id", default: defaults.bos)
        eos = try tokenID("tokenizer.ggml.eos_token_id", default: defaults.eos)
        unknown = try tokenID("tokenizer.ggml.unknown_token_id", default: defaults.unknown)
        addsBOS = try metadata.tokenizerBool("tokenizer.ggml.add_bos_token") ?? defaults.addsBOS
        addsEOS = try metadata.tokenizerBool("tokenizer.ggml.add_eos_token") ?? false
        if addsBOS && bos == nil {
            throw TokenizerError(.invalidMetadata, "tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is missing")
        }
        if addsEOS && eos == nil {
            throw TokenizerError(.invalidMetadata, "tokenizer.ggml.add_eos_token is true but tokenizer.ggml.eos_token_id is missing")
        }

        var endOfGeneration = Set([eos,
                                   try tokenID("tokenizer.ggml.eot_token_id", default: nil),
                                   try tokenID("tokenizer.ggml.eom_token_id", default: nil)].compactMap { $0 })
        for (id, text) in tokens.enumerated() where Self.endOfTurnTexts.contains(text) {
            endOfGeneration.insert(Int32(id))
            // As llama.cpp does: an end-of-turn marker is a control token even when the file says otherwise.
            types[id] = .control
        }
        self.endOfGeneration = endOfGeneration
        self.types = types
    }
}

extension GGUFMetadata {
    /// The string under `key`, nil when absent; a value of another type is a tokenizer error naming it.
    func tokenizerString(_ key: String) throws(TokenizerError) -> String? {
        do {
            return try checkedString(key)
        } catch {
            throw TokenizerError(.invalidMetadata, error.message)
        }
    }

    /// The boolean under `key`, nil when absent; a value of another type is a tokenizer error naming it.
    func tokenizerBool(_ key: String) throws(TokenizerError) -> Bool? {
        do {
            return try checkedBool(key)
        } catch {
            throw TokenizerError(.invalidMetadata, error.message)
        }
    }
}

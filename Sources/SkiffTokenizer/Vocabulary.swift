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
        if metadata["tokenizer.ggml.token_type"] != nil {
            guard let raw = metadata.ints("tokenizer.ggml.token_type"), raw.count >= tokens.count else {
                throw TokenizerError(.invalidMetadata, "tokenizer.ggml.token_type must be an integer array with one entry per token (\(tokens.count))")
            }
            types = raw.prefix(tokens.count).map(TokenType.init(metadataValue:))
        }

        /// The id stored under `key` if it is in range, else `fallback` if that is (as llama.cpp does).
        func tokenID(_ key: String, default fallback: Int32?) -> Int32? {
            let candidates = [metadata.int(key), fallback.map(Int.init)]
            return candidates.lazy.compactMap { $0 }.first { (0 ..< tokens.count).contains($0) }.map(Int32.init)
        }
        bos = tokenID("tokenizer.ggml.bos_token_id", default: defaults.bos)
        eos = tokenID("tokenizer.ggml.eos_token_id", default: defaults.eos)
        unknown = tokenID("tokenizer.ggml.unknown_token_id", default: defaults.unknown)
        addsBOS = metadata.bool("tokenizer.ggml.add_bos_token") ?? defaults.addsBOS
        addsEOS = metadata.bool("tokenizer.ggml.add_eos_token") ?? false
        if addsBOS && bos == nil {
            throw TokenizerError(.invalidMetadata, "tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is missing or out of range")
        }
        if addsEOS && eos == nil {
            throw TokenizerError(.invalidMetadata, "tokenizer.ggml.add_eos_token is true but tokenizer.ggml.eos_token_id is missing or out of range")
        }

        var endOfGeneration = Set([eos,
                                   tokenID("tokenizer.ggml.eot_token_id", default: nil),
                                   tokenID("tokenizer.ggml.eom_token_id", default: nil)].compactMap { $0 })
        for (id, text) in tokens.enumerated() where Self.endOfTurnTexts.contains(text) {
            endOfGeneration.insert(Int32(id))
            // As llama.cpp does: an end-of-turn marker is a control token even when the file says otherwise.
            types[id] = .control
        }
        self.endOfGeneration = endOfGeneration
        self.types = types
    }
}

import Foundation
import SkiffGGUF

/// Where a converted model's tokenizer comes from.
public enum TokenizerSource: Sendable, Equatable {
    /// A Hugging Face tokenizer directory: `tokenizer.json`, and `tokenizer_config.json` when present (special
    /// tokens, whether BOS is added, the chat template).
    case huggingFace(URL)
    /// A GGUF model file whose `tokenizer.*` keys are copied as they are.
    case gguf(String)
}

/// A tokenizer as GGUF metadata: llama.cpp's `tokenizer.ggml.*` keys and `tokenizer.chat_template`.
struct TokenizerMetadata: Sendable {
    /// The vocabulary, by id.
    var tokens: [String]
    /// SentencePiece piece types (1 normal, 3 control, 4 user-defined, 5 unused, 6 byte), by id.
    var types: [Int32]
    /// `tokenizer.ggml.scores`, when the tokenizer has them.
    var scores: [Float]?
    /// Every other key, in file order.
    var entries: [(String, GGUFValue)]

    /// The pre-tokenizer split patterns Skiff runs, as `tokenizer.json` spells them, by `tokenizer.ggml.pre`.
    static let splitPatterns = [
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: "llama-bpe",
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: "qwen2",
    ]

    static func read(_ source: TokenizerSource) throws(ConvertError) -> TokenizerMetadata {
        switch source {
        case .gguf(let path): try fromGGUF(path)
        case .huggingFace(let directory): try fromHuggingFace(directory)
        }
    }

    /// The keys in file order, the vocabulary padded with unused entries to `rows` (the model's embedding
    /// rows, which checkpoints round up to a multiple of 8 or 64).
    func entries(paddedTo rows: Int) throws(ConvertError) -> [(String, GGUFValue)] {
        guard tokens.count <= rows else {
            throw ConvertError(.unsupportedTokenizer, "the tokenizer has \(tokens.count) tokens but the model's embedding only \(rows) rows; is it the model's tokenizer?")
        }
        let padding = (tokens.count ..< rows).map { "[PAD\($0)]" }
        var out: [(String, GGUFValue)] = entries.filter { $0.0 == "tokenizer.ggml.model" }
        out.append(("tokenizer.ggml.tokens", .array((tokens + padding).map(GGUFValue.string))))
        out.append(("tokenizer.ggml.token_type", .array((types + padding.map { _ in 5 }).map(GGUFValue.int32))))
        if let scores {
            out.append(("tokenizer.ggml.scores", .array((scores + padding.map { _ in -1e9 }).map(GGUFValue.float32))))
        }
        return out + entries.filter { $0.0 != "tokenizer.ggml.model" }
    }

    static func fromGGUF(_ path: String) throws(ConvertError) -> TokenizerMetadata {
        let metadata: GGUFMetadata
        do { metadata = try GGUFFile(path: path).metadata } catch { throw ConvertError(.unsupportedTokenizer, error.message) }
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), !tokens.isEmpty else {
            throw ConvertError(.unsupportedTokenizer, "\(path) has no tokenizer (tokenizer.ggml.tokens is missing or empty)")
        }
        let types = metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.int).map(Int32.init) ?? tokens.map { _ in 1 }
        let scores = metadata["tokenizer.ggml.scores"]?.array?.compactMap(\.double).map(Float.init)
        guard types.count == tokens.count, scores.map({ $0.count == tokens.count }) ?? true else {
            throw ConvertError(.unsupportedTokenizer, "\(path): tokenizer.ggml.token_type or .scores does not have one entry per token")
        }
        let copied = ["tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"]
        let entries = metadata.keys.filter { $0.hasPrefix("tokenizer.") && !copied.contains($0) }.map { ($0, metadata[$0]!) }
        return TokenizerMetadata(tokens: tokens, types: types, scores: scores, entries: entries)
    }

    static func fromHuggingFace(_ directory: URL) throws(ConvertError) -> TokenizerMetadata {
        let path = directory.appendingPathComponent("tokenizer.json")
        guard let data = try? Data(contentsOf: path) else {
            throw ConvertError(.unsupportedTokenizer, "\(path.path) is missing or unreadable; give the directory of the model's Hugging Face tokenizer, or a GGUF file to copy the tokenizer from")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = json["model"] as? [String: Any], let vocabulary = model["vocab"] as? [String: Int] else {
            throw ConvertError(.unsupportedTokenizer, "\(path.path) is not a tokenizer.json (an object with model.vocab)")
        }
        guard model["type"] as? String == "BPE", Self.isByteLevel(json) else {
            throw ConvertError(.unsupportedTokenizer, "\(path.path) is a \(model["type"] as? String ?? "unnamed") tokenizer without byte-level pre-tokenization; skiff convert reads byte-level BPE tokenizers (GPT-2, Llama 3, Qwen 2, SmolLM); give a GGUF file with the model's tokenizer instead")
        }
        let pre = try Self.preTokenizer(json, path: path.path)
        // Ids: the vocabulary, then the added tokens (which may also be in it); holes become unused entries.
        let added = (json["added_tokens"] as? [[String: Any]] ?? []).compactMap { t -> (Int, String, Bool)? in
            guard let id = t["id"] as? Int, let content = t["content"] as? String else { return nil }
            return (id, content, t["special"] as? Bool ?? false)
        }
        let count = max(vocabulary.values.max() ?? -1, added.map(\.0).max() ?? -1) + 1
        guard count > 0, vocabulary.values.allSatisfy({ $0 >= 0 }), added.allSatisfy({ $0.0 >= 0 }) else {
            throw ConvertError(.unsupportedTokenizer, "\(path.path) has an empty vocabulary or negative token ids")
        }
        var tokens = (0 ..< count).map { "[PAD\($0)]" }
        var types = [Int32](repeating: 5, count: count)
        for (token, id) in vocabulary {
            tokens[id] = token
            types[id] = 1
        }
        for (id, content, special) in added {
            tokens[id] = content
            types[id] = special ? 3 : 4
        }
        let merges: [String] = (model["merges"] as? [Any] ?? []).compactMap { merge in
            if let text = merge as? String { return text }
            if let pair = merge as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            return nil
        }
        var entries: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.merges", .array(merges.map(GGUFValue.string))),
        ]
        let configPath = directory.appendingPathComponent("tokenizer_config.json")
        if let configData = try? Data(contentsOf: configPath) {
            guard let config = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] else {
                throw ConvertError(.unsupportedTokenizer, "\(configPath.path) is not a JSON object")
            }
            let ids = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            for (field, key) in [("bos_token", "tokenizer.ggml.bos_token_id"), ("eos_token", "tokenizer.ggml.eos_token_id"),
                                 ("unk_token", "tokenizer.ggml.unknown_token_id"), ("pad_token", "tokenizer.ggml.padding_token_id")] {
                let value = config[field]
                guard let text = value as? String ?? (value as? [String: Any])?["content"] as? String else { continue }
                guard let id = ids[text] else {
                    throw ConvertError(.unsupportedTokenizer, "\(configPath.path): \(field) '\(text)' is not in the vocabulary")
                }
                entries.append((key, .uint32(UInt32(id))))
            }
            for (field, key) in [("add_bos_token", "tokenizer.ggml.add_bos_token"), ("add_eos_token", "tokenizer.ggml.add_eos_token")] {
                if let flag = config[field] as? Bool { entries.append((key, .bool(flag))) }
            }
            let template = config["chat_template"] as? String
                ?? (config["chat_template"] as? [[String: Any]])?.first { $0["name"] as? String == "default" }?["template"] as? String
            if let template { entries.append(("tokenizer.chat_template", .string(template))) }
        }
        return TokenizerMetadata(tokens: tokens, types: types, scores: nil, entries: entries)
    }

    /// Whether the tokenizer maps bytes to its alphabet the GPT-2 way (a ByteLevel pre-tokenizer or decoder).
    static func isByteLevel(_ json: [String: Any]) -> Bool {
        func mentions(_ value: Any?) -> Bool {
            if let object = value as? [String: Any] {
                return object["type"] as? String == "ByteLevel" || object.values.contains { mentions($0) }
            }
            if let array = value as? [Any] { return array.contains { mentions($0) } }
            return false
        }
        return mentions(json["pre_tokenizer"]) || mentions(json["decoder"])
    }

    /// `tokenizer.ggml.pre` for the tokenizer's split rule: a Split by a pattern Skiff knows, digits one by
    /// one before GPT-2's rule (SmolLM, StarCoder), or GPT-2's rule alone (a ByteLevel pre-tokenizer that
    /// splits by its own pattern).
    static func preTokenizer(_ json: [String: Any], path: String) throws(ConvertError) -> String {
        let pre = json["pre_tokenizer"] as? [String: Any]
        let steps = pre?["type"] as? String == "Sequence" ? (pre?["pretokenizers"] as? [[String: Any]] ?? []) : pre.map { [$0] } ?? []
        for step in steps where step["type"] as? String == "Split" {
            let pattern = (step["pattern"] as? [String: Any])?["Regex"] as? String ?? ""
            guard let name = splitPatterns[pattern] else {
                throw ConvertError(.unsupportedTokenizer, "\(path): the pre-tokenizer splits by a pattern Skiff does not run (\(pattern.prefix(80))); Skiff runs Llama 3's, Qwen 2's, GPT-2's and SmolLM's; give a GGUF file with the model's tokenizer instead")
            }
            return name
        }
        let kinds = steps.compactMap { $0["type"] as? String }
        if kinds == ["Digits", "ByteLevel"], steps[0]["individual_digits"] as? Bool == true { return "smollm" }
        if kinds == ["ByteLevel"], steps[0]["use_regex"] as? Bool ?? true { return "gpt-2" }
        throw ConvertError(.unsupportedTokenizer, "\(path): the pre-tokenizer (\(kinds.joined(separator: ", "))) is not one Skiff runs (Llama 3's, Qwen 2's, GPT-2's, SmolLM's); give a GGUF file with the model's tokenizer instead")
    }
}

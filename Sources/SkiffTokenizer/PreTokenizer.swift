/// The rule that cuts text into words before byte-level BPE merges within each word, chosen by the file's
/// `tokenizer.ggml.pre` as in llama.cpp (`src/llama-vocab.cpp`), whose regex lists each case names.
enum PreTokenizer: Sendable, Equatable {
    /// GPT-2's split pattern alone (`gpt-2`, `gpt2`, `mpt`, `olmo`).
    case gpt2
    /// llama.cpp's fallback for byte-level files without a named pre-tokenizer (`default`, or no key):
    /// punctuation runs, then GPT-2's pattern, then number runs, then groups of three ASCII digits.
    case legacyDefault
    /// Every `\p{N}` on its own, then GPT-2's pattern (`starcoder`, `refact`, `smollm`).
    case starCoder
    /// Llama 3's pattern with numbers in groups of up to three (`llama3`, `llama-v3`, `llama-bpe`).
    case llama3
    /// Llama 3's pattern with one number per piece (`qwen2`, `deepseek-r1-qwen`).
    case qwen2

    /// The `tokenizer.ggml.pre` values this build supports, for error messages.
    static let supportedNames = ["default", "gpt-2", "gpt2", "mpt", "olmo", "starcoder", "refact", "smollm",
                                 "llama3", "llama-v3", "llama-bpe", "qwen2", "deepseek-r1-qwen"]

    /// The pre-tokenizer a file names; nil (no key) means llama.cpp's default.
    init(name: String?) throws(TokenizerError) {
        switch name {
        case nil, "default": self = .legacyDefault
        case "gpt-2", "gpt2", "mpt", "olmo": self = .gpt2
        case "starcoder", "refact", "smollm": self = .starCoder
        case "llama3", "llama-v3", "llama-bpe": self = .llama3
        case "qwen2", "deepseek-r1-qwen": self = .qwen2
        case let name?:
            throw TokenizerError(
                .unsupportedPreTokenizer,
                "the model's pre-tokenizer tokenizer.ggml.pre = '\(name)' is not supported; supported names are "
                    + Self.supportedNames.joined(separator: ", ")
            )
        }
    }

    /// Whether a word that is itself a vocabulary entry skips the merges (llama.cpp's `ignore_merges`).
    var wordsMatchVocabularyWhole: Bool { self == .llama3 }

    /// Whether models with this pre-tokenizer add BOS when the file does not say (llama.cpp's default).
    var addsBOSByDefault: Bool { self == .llama3 }

    /// Cuts `text` into words, returned as scalar ranges in order.
    func split(_ text: ScalarText) -> [Range<Int>] {
        let whole = [0 ..< text.count]
        switch self {
        case .gpt2:
            return Self.apply(whole) { text.splitGPT2($0, into: &$1) }
        case .legacyDefault:
            var pieces = Self.apply(whole) { text.isolate($0, runs: true, into: &$1, where: text.isPunctuationOrOperator) }
            pieces = Self.apply(pieces) { text.splitGPT2($0, into: &$1) }
            pieces = Self.apply(pieces) { text.isolate($0, runs: true, into: &$1) { text.classes[$0] == .number } }
            return Self.apply(pieces) { text.isolateDigitTriples($0, into: &$1) }
        case .starCoder:
            let pieces = Self.apply(whole) { text.isolate($0, runs: false, into: &$1) { text.classes[$0] == .number } }
            return Self.apply(pieces) { text.splitGPT2($0, into: &$1) }
        case .llama3:
            return Self.apply(whole) { text.splitLlama3($0, maxDigits: 3, into: &$1) }
        case .qwen2:
            return Self.apply(whole) { text.splitLlama3($0, maxDigits: 1, into: &$1) }
        }
    }

    /// Runs one splitting stage over every piece of the previous one.
    private static func apply(_ pieces: [Range<Int>], _ stage: (Range<Int>, inout [Range<Int>]) -> Void) -> [Range<Int>] {
        var result: [Range<Int>] = []
        result.reserveCapacity(pieces.count * 2)
        for piece in pieces where !piece.isEmpty {
            stage(piece, &result)
        }
        return result
    }
}

import Foundation
import SkiffTokenizer
import Testing

/// Inputs that break naive tokenizers: megabytes of text, very long runs of one character, almost-special
/// tokens. Each must finish (bounded by the time limit, which only catches a hang or a quadratic blow-up: a test
/// takes about 17 s here on 2 busy cores; not asserted on speed) and round-trip.
@Suite("Hostile input", .timeLimit(.minutes(5)))
struct HostileInputTests {
    static let inputs: [(name: String, text: String)] = [
        ("one letter repeated", String(repeating: "a", count: 200_000)),
        ("spaces", String(repeating: " ", count: 200_000)),
        ("newlines", String(repeating: "\n", count: 100_000)),
        ("digits", String(repeating: "7", count: 100_000)),
        ("emoji", String(repeating: "👨‍👩‍👧‍👦", count: 10_000)),
        ("CJK without spaces", String(repeating: "漢字仮名交じり文", count: 20_000)),
        ("almost special tokens", String(repeating: "<|im_start|<start_of_turn<", count: 10_000)),
        ("special tokens back to back", String(repeating: "<|im_end|><end_of_turn>", count: 10_000)),
        ("combining marks", "a" + String(repeating: "\u{0301}", count: 50_000)),
    ]

    /// About 1 MB of varied text.
    static let megabyte: String = {
        let paragraph = """
            The quick brown fox jumps over the lazy dog; it's 2024 and 1,234,567 people agree. \
            日本語のテキスト、한국어, العربية, Ελληνικά, emoji 🤗👍🏽 and code: `let x = [1, 2, 3]`.\n\t\n
            """
        return String(repeating: paragraph, count: 1_048_576 / paragraph.utf8.count + 1)
    }()

    @Test("SmolLM2: long runs and 1 MB of text encode and round-trip")
    func smolLM() throws {
        try check(TestModels.smolLM())
    }

    @Test("Gemma 3: long runs and 1 MB of text encode and round-trip")
    func gemma() throws {
        try check(TestModels.gemma())
    }

    private func check(_ tokenizer: Tokenizer) {
        for (name, text) in Self.inputs + [("1 MB of mixed text", Self.megabyte)] {
            let start = ContinuousClock.now
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
            let elapsed = ContinuousClock.now - start
            #expect(!ids.isEmpty, "\(name)")
            #expect(tokenizer.decode(ids) == text, "\(name)")
            print("encoded \(name): \(text.utf8.count) bytes -> \(ids.count) tokens in \(elapsed)")
        }
    }
}

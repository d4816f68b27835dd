import Foundation
@testable import SkiffTokenizer
import Testing

/// The hand-written splitters against the `regex` module running llama.cpp's split patterns
/// (`Fixtures/pretokenizers.json`).
@Suite("Pre-tokenizers")
struct PreTokenizerTests {
    struct Fixture: Decodable {
        var texts: [String]
        var pieces: [String: [[String]]]
    }

    static let fixture: Fixture? = {
        guard let url = Bundle.module.url(forResource: "pretokenizers", withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url)
        else { return nil }
        return try? JSONDecoder().decode(Fixture.self, from: data)
    }()

    @Test("splits match the reference regex", arguments: ["gpt-2", "default", "smollm", "llama3", "qwen2"])
    func matchesReference(name: String) throws {
        let fixture = try #require(Self.fixture)
        let preTokenizer = try PreTokenizer(name: name)
        let expected = try #require(fixture.pieces[name])
        for (text, expectedPieces) in zip(fixture.texts, expected) {
            #expect(split(text, with: preTokenizer) == expectedPieces, "\(name): \(text.debugDescription)")
        }
    }

    @Test("unicode classes: letters, numbers and whitespace beyond ASCII")
    func classes() {
        #expect(ScalarClass("é") == .letter)
        #expect(ScalarClass("日") == .letter)
        #expect(ScalarClass("ー") == .letter)  // katakana prolonged sound mark, Lm
        #expect(ScalarClass("ب") == .letter)
        #expect(ScalarClass("٣") == .number)
        #expect(ScalarClass("½") == .number)
        #expect(ScalarClass("Ⅻ") == .number)
        #expect(ScalarClass("\u{3000}") == .space)
        #expect(ScalarClass("\u{00A0}") == .space)
        #expect(ScalarClass("\u{0085}") == .space)
        #expect(ScalarClass("\r") == .newline)
        #expect(ScalarClass("\u{0301}") == .other)  // combining acute accent, Mn
        #expect(ScalarClass("🤗") == .other)
        #expect(ScalarClass("\u{200B}") == .other)  // zero width space is not White_Space
    }

    @Test("names: aliases resolve, unknown names list the supported ones")
    func names() throws {
        #expect(try PreTokenizer(name: nil) == .legacyDefault)
        #expect(try PreTokenizer(name: "gpt2") == .gpt2)
        #expect(try PreTokenizer(name: "refact") == .starCoder)
        #expect(try PreTokenizer(name: "llama-bpe") == .llama3)
        let error = #expect(throws: TokenizerError.self) { try PreTokenizer(name: "tekken") }
        #expect(error?.code == .unsupportedPreTokenizer)
        #expect(error?.message.contains("'tekken'") == true)
        #expect(error?.message.contains("smollm") == true)
    }

    @Test("a word never spans the end of a digit piece (smollm)")
    func lookaheadStopsAtPieceEnd() throws {
        // "a 1": the digit is isolated first, so the space before it ends its piece and stands alone.
        #expect(split("a 1", with: .starCoder) == ["a", " ", "1"])
        #expect(split("a 1", with: .gpt2) == ["a", " 1"])
    }

    private func split(_ text: String, with preTokenizer: PreTokenizer) -> [String] {
        var text = text
        return text.withUTF8 { utf8 in
            let scalars = ScalarText(utf8: utf8)
            return preTokenizer.split(scalars).map { word in
                String(decoding: UnsafeBufferPointer(rebasing: utf8[scalars.byteRange(word)]), as: UTF8.self)
            }
        }
    }
}

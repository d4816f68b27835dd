@testable import SkiffTokenizer
import Testing

/// Streaming output: characters split across tokens come out whole, never in halves.
@Suite("Streaming detokenizer")
struct StreamingDetokenizerTests {
    /// Appends every id, checking that each chunk is whole characters, and returns the chunks.
    private func stream(_ ids: [Int32], _ tokenizer: Tokenizer) -> [String] {
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        var chunks = ids.map { detokenizer.append($0) }
        chunks.append(detokenizer.flush())
        return chunks
    }

    @Test("SmolLM2: emoji and CJK split across byte-level tokens are held until complete")
    func smolLMSplitCharacters() throws {
        let tokenizer = try TestModels.smolLM()
        let text = "日本語 🤗 family 👨‍👩‍👧‍👦 ok"
        let ids = tokenizer.encode(text)
        let chunks = stream(ids, tokenizer)
        #expect(chunks.joined() == text)
        #expect(chunks.joined() == tokenizer.decode(ids))
        #expect(chunks.contains(""), "some token should end mid-character and emit nothing")
        #expect(!chunks.joined().contains("\u{FFFD}"))
        // Every prefix of the stream is a prefix of the text's scalars: nothing was emitted early and then changed.
        var emitted = ""
        for chunk in chunks {
            emitted += chunk
            #expect(text.unicodeScalars.starts(with: emitted.unicodeScalars))
        }
    }

    @Test("Gemma 3: byte-fallback tokens of a rare emoji join into one character")
    func gemmaByteFallback() throws {
        let tokenizer = try TestModels.gemma()
        let ids = tokenizer.encode("🫩", addSpecial: false)
        #expect(ids.count == 4, "🫩 has no vocabulary entry and falls back to its 4 UTF-8 bytes")
        #expect(stream(ids, tokenizer) == ["", "", "", "🫩", ""])
    }

    @Test("invalid bytes become U+FFFD as soon as they are known to be invalid; flush ends an unfinished one")
    func invalidBytes() throws {
        let tokenizer = try TestModels.smolLM()
        // The byte-level token of the lone byte 0xF0 (a 4-byte lead) is spelled "ð".
        let lead = try #require((0 ..< Int32(tokenizer.vocabularySize)).first { tokenizer.tokenText($0) == "ð" })
        let a = try #require(tokenizer.encode("a", addSpecial: false).first)
        #expect(stream([lead, a], tokenizer) == ["", "\u{FFFD}a", ""])
        #expect(stream([lead], tokenizer) == ["", "\u{FFFD}"])
        #expect(tokenizer.decode([lead, a]) == "\u{FFFD}a")
    }

    @Test("the assembler replaces bad bytes exactly like String(decoding:as:), however the bytes are chunked")
    func assemblerMatchesStandardLibrary() {
        var generator = SplitMix64(seed: 42)
        // Bytes biased towards UTF-8 lead and continuation bytes, so most inputs mix valid and invalid parts.
        let alphabet: [UInt8] = [0x41, 0x20, 0x80, 0x8F, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF,
                                 0xF0, 0xF4, 0xF5, 0xFF]
        for _ in 0 ..< 2000 {
            let count = Int(generator.next() % 12)
            let bytes = (0 ..< count).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            var assembler = UTF8Assembler()
            var output: [UInt8] = []
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + 1 + Int(generator.next() % 3))
                assembler.append(bytes[start ..< end], to: &output)
                start = end
            }
            assembler.finish(to: &output)
            #expect(output == Array(String(decoding: bytes, as: UTF8.self).utf8), "\(bytes)")
        }
    }
}

/// A small deterministic random number generator for reproducible test inputs.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

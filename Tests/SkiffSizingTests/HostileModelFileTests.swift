import Foundation
import SkiffEngine
import SkiffModelFile
import SkiffGGUF
import SkiffSizing
import Testing

/// Copies of the default model with one metadata value made hostile, read by both readers of model files:
/// the loader (`LoadedModel`: tokenizer and hyper-parameters) and the sizing reader (`ModelShape`). Both start
/// from one hyper-parameter reader (`ModelHyperparameters`), so they refuse its keys with the same words; the
/// loader alone checks what only its kernels need and the tokenizer. None traps.
/// (They are tested together here, the one test target that links both.)
@Suite("Hostile model files", .serialized)
struct HostileModelFileTests {
    /// A new value written over an existing one, of the same type and size.
    enum Patch: Sendable {
        case uint32(UInt32)
        case float32(Float)
        /// Element `index` of an array of 32-bit integers.
        case int32Element(Int, Int32)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var key: String
        var patch: Patch
        /// What the loader's error says; nil where it accepts the value.
        var loader: String?
        /// What the sizing reader's error says; nil where it does not read the key or accepts the value.
        var sizing: String?
        var testDescription: String { "\(key) = \(patch)" }
    }

    static let cases: [Case] = [
        Case(key: "llama.block_count", patch: .uint32(100_000),
             loader: "GGUF key 'llama.block_count' is 100000; it must be an integer from 1 to 272",
             sizing: "GGUF key 'llama.block_count' is 100000; it must be an integer from 1 to 272"),
        Case(key: "llama.attention.head_count", patch: .uint32(0),
             loader: "GGUF key 'llama.attention.head_count' is 0; it must be an integer from 1 to 2147483647",
             sizing: "GGUF key 'llama.attention.head_count' is 0; it must be an integer from 1 to 2147483647"),
        Case(key: "llama.attention.head_count_kv", patch: .uint32(2),
             loader: "GGUF key 'llama.attention.head_count_kv' is 2; it must be a divisor of llama.attention.head_count (9)",
             sizing: nil),
        Case(key: "llama.attention.head_count_kv", patch: .uint32(10),
             loader: "GGUF key 'llama.attention.head_count_kv' is 10; it must be an integer from 1 to 9",
             sizing: "GGUF key 'llama.attention.head_count_kv' is 10; it must be an integer from 1 to 9"),
        Case(key: "llama.context_length", patch: .uint32(UInt32.max),
             loader: "GGUF key 'llama.context_length' is 4294967295; it must be an integer from 1 to 2147483647",
             sizing: "GGUF key 'llama.context_length' is 4294967295; it must be an integer from 1 to 2147483647"),
        Case(key: "llama.embedding_length", patch: .uint32(577),
             loader: "GGUF key 'llama.embedding_length' is 577; it must be a multiple of llama.attention.head_count (9) when llama.attention.key_length is absent",
             sizing: "GGUF key 'llama.embedding_length' is 577; it must be a multiple of llama.attention.head_count (9) when llama.attention.key_length is absent"),
        Case(key: "llama.feed_forward_length", patch: .uint32(0),
             loader: "GGUF key 'llama.feed_forward_length' is 0; it must be an integer from 1 to 2147483647",
             sizing: "GGUF key 'llama.feed_forward_length' is 0; it must be an integer from 1 to 2147483647"),
        Case(key: "llama.rope.dimension_count", patch: .uint32(63),
             loader: "GGUF key 'llama.rope.dimension_count' is 63; it must be even (dimensions rotate in pairs)", sizing: nil),
        Case(key: "llama.rope.dimension_count", patch: .uint32(66),
             loader: "GGUF key 'llama.rope.dimension_count' is 66; it must be an integer from 1 to 64",
             sizing: "GGUF key 'llama.rope.dimension_count' is 66; it must be an integer from 1 to 64"),
        Case(key: "llama.vocab_size", patch: .uint32(49153),
             loader: "GGUF key 'llama.vocab_size' is 49153; it must be the number of rows of token_embd.weight (49152)",
             sizing: "GGUF key 'llama.vocab_size' is 49153; it must be the number of rows of token_embd.weight (49152)"),
        Case(key: "llama.attention.layer_norm_rms_epsilon", patch: .float32(.nan),
             loader: "GGUF key 'llama.attention.layer_norm_rms_epsilon' is nan; it must be a finite number above 0",
             sizing: "GGUF key 'llama.attention.layer_norm_rms_epsilon' is nan; it must be a finite number above 0"),
        Case(key: "llama.rope.freq_base", patch: .float32(-1),
             loader: "GGUF key 'llama.rope.freq_base' is -1.0; it must be a finite number above 0",
             sizing: "GGUF key 'llama.rope.freq_base' is -1.0; it must be a finite number above 0"),
        Case(key: "tokenizer.ggml.bos_token_id", patch: .uint32(49152),
             loader: "GGUF key 'tokenizer.ggml.bos_token_id' is 49152; it must be a token id from 0 to 49151 (the vocabulary has 49152 tokens)",
             sizing: nil),
        Case(key: "tokenizer.ggml.token_type", patch: .int32Element(7, 42),
             loader: "GGUF key 'tokenizer.ggml.token_type' is 42 for token 7; token types are 0 to 6", sizing: nil),
    ]

    @Test("a hostile value is refused by the readers that use it", arguments: cases)
    func refused(_ hostile: Case) throws {
        let original = try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first")
        let copy = try Self.copy(of: original, setting: hostile.key, to: hostile.patch)
        defer { try? FileManager.default.removeItem(atPath: copy) }

        if let expected = hostile.loader {
            let error = #expect(throws: ModelFileError.self) { try LoadedModel(path: copy) }
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "no error")")
        }
        if let expected = hostile.sizing {
            let error = #expect(throws: SizingError.self) { try ModelShape(ggufPath: copy) }
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "no error")")
        } else {
            _ = try ModelShape(ggufPath: copy)
        }
    }

    /// The copy itself is sound: unpatched, both readers take it.
    @Test func anUnchangedCopyIsRead() throws {
        let original = try #require(cachedModelPath(defaultModelFile), "run `skiff pull` first")
        let copy = try Self.copy(of: original, setting: "llama.block_count", to: .uint32(30))
        defer { try? FileManager.default.removeItem(atPath: copy) }
        #expect(try LoadedModel(path: copy).cacheLayout.layers.count == 30)
        #expect(try ModelShape(ggufPath: copy).layerCount == 30)
    }

    /// Writes the metadata and tensor table of `path` with `key`'s value replaced to a new file of the same
    /// size, whose tensor data is left as zeros (a sparse file: no refusal reads it).
    static func copy(of path: String, setting key: String, to patch: Patch) throws -> String {
        let dataStart = try #require(GGUFFile(path: path).tensors.map(\.fileOffset).min())
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? input.close() }
        var header = try #require(try input.read(upToCount: dataStart))

        var name = Data()
        withUnsafeBytes(of: UInt64(key.utf8.count).littleEndian) { name.append(contentsOf: $0) }
        name.append(contentsOf: Array(key.utf8))
        let at = try #require(header.range(of: name), "no key \(key)").upperBound
        let type = header[at ..< at + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        func write<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { header.replaceSubrange(offset ..< offset + $0.count, with: $0) }
        }
        switch patch {
        case .uint32(let value):
            try #require(type == 4, "\(key) is not a uint32")
            write(value, at: at + 4)
        case .float32(let value):
            try #require(type == 6, "\(key) is not a float32")
            write(value.bitPattern, at: at + 4)
        case .int32Element(let index, let value):
            let elementType = header[at + 4 ..< at + 8].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            try #require(type == 9 && elementType == 5, "\(key) is not an array of int32")
            write(value, at: at + 16 + 4 * index)
        }

        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-hostile-\(UUID().uuidString).gguf")
        try header.write(to: copy)
        let output = try FileHandle(forWritingTo: copy)
        try output.truncate(atOffset: UInt64(size))
        try output.close()
        return copy.path
    }
}

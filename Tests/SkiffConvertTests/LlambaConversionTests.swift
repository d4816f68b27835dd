import Foundation
import PythonTestSupport
import SkiffConvert
import SkiffEngine
import SkiffGGUF
import SkiffModelFile
import SkiffSizing
import Testing

/// Llamba from a checkpoint in the published Hugging Face layout (made by `Python/llamba_reference.py` with
/// random weights) through `CheckpointConverter` to GGUF, run by the engine, against the script's NumPy
/// implementation of the published equations on the checkpoint itself.
@Suite(.serialized) struct LlambaConversionTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Python/llamba_reference.py")
    static let prompt: [Int32] = [265, 259, 17, 264, 301, 88, 140, 3, 211, 259, 45, 299]
    static let decoded: [Int32] = [7, 262, 150]

    static func python(_ arguments: [String]) async throws {
        let bin = try await PythonTools.binDirectory()
        try await PythonTools.run(bin.appendingPathComponent("python").path, [script.path] + arguments)
    }

    /// A fresh checkpoint directory of `variant`.
    static func checkpoint(_ variant: String) async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-llamba-\(variant)-\(UUID().uuidString)")
        try await python(["make", directory.path, variant])
        return directory
    }

    /// The NumPy logits at each position of `tokens`.
    static func reference(_ directory: URL, _ tokens: [Int32]) async throws -> [[Double]] {
        let output = directory.appendingPathComponent("logits.json")
        try await python(["logits", directory.path, tokens.map(String.init).joined(separator: ","), output.path])
        return try JSONDecoder().decode([[Double]].self, from: Data(contentsOf: output))
    }

    /// The engine's logits after the prompt (one pass) and after each decoded token.
    static func engineLogits(_ path: String) throws -> [[Float]] {
        let model = try LoadedModel(path: path)
        let session = try GenerationSession(model: model, contextLength: 64, threads: 2)
        var rows = [try session.append(prompt)]
        for token in decoded { rows.append(try session.append([token])) }
        return rows
    }

    /// The largest difference over the largest reference logit (at least 1), at each compared position.
    static func relativeErrors(_ rows: [[Float]], _ expected: [[Double]]) -> [Double] {
        rows.enumerated().map { i, row in
            let want = expected[prompt.count - 1 + i]
            let scale = max(want.map(abs).max() ?? 1, 1)
            return (zip(row, want).map { abs(Double($0) - $1) }.max() ?? .infinity) / scale
        }
    }

    @Test(arguments: ["plain", "bf16-tied"])
    func f32ConversionMatchesThePublishedEquations(variant: String) async throws {
        let directory = try await Self.checkpoint(variant)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.gguf").path
        try CheckpointConverter(directory: directory).write(to: path, type: .f32)
        let expected = try await Self.reference(directory, Self.prompt + Self.decoded)
        let errors = Self.relativeErrors(try Self.engineLogits(path), expected)
        #expect(errors.allSatisfy { $0 <= 1e-4 }, "largest differences over the largest logit, per position: \(errors)")
    }

    /// F16, Q8_0 and Q4_K: matrices at the type (the head at Q8_0 for Q4_K), the small tensors F32, and the
    /// logits near the reference, the more so the wider the type.
    @Test func quantizedConversionsStoreEachTensorAsPlannedAndStayClose() async throws {
        let directory = try await Self.checkpoint("bf16-tied")
        defer { try? FileManager.default.removeItem(at: directory) }
        let expected = try await Self.reference(directory, Self.prompt + Self.decoded)
        var worst: [CheckpointConverter.TargetType: Double] = [:]
        for target in [CheckpointConverter.TargetType.f16, .q8_0, .q4_k] {
            let path = directory.appendingPathComponent("model-\(target.rawValue).gguf").path
            try CheckpointConverter(directory: directory).write(to: path, type: target)
            let file = try GGUFFile(path: path)
            let matrix: GGMLType = target == .f16 ? .f16 : target == .q8_0 ? .q8_0 : .q4_K
            #expect(file.tensor(named: "blk.1.ssm_in.weight")?.type == matrix)
            #expect(file.tensor(named: "blk.0.ffn_down.weight")?.type == matrix)
            #expect(file.tensor(named: "token_embd.weight")?.type == (target == .q4_k ? .q8_0 : matrix))
            #expect(file.tensor(named: "blk.0.ssm_conv1d.weight")?.type == .f32)
            #expect(file.tensor(named: "blk.0.ssm_in.bias")?.type == .f32)
            #expect(file.tensor(named: "output.weight") == nil)
            worst[target] = Self.relativeErrors(try Self.engineLogits(path), expected).max()
        }
        let f16 = try #require(worst[.f16]), q8 = try #require(worst[.q8_0]), q4 = try #require(worst[.q4_k])
        #expect(f16 < 0.01 && q8 < 0.05 && q4 < 0.25, "largest relative logit errors: F16 \(f16), Q8_0 \(q8), Q4_K \(q4)")
        #expect(f16 < q8 && q8 < q4, "wider types should stay closer: F16 \(f16), Q8_0 \(q8), Q4_K \(q4)")
    }

    /// `skiff plan` reads the same model from the checkpoint's config.json as from the converted file.
    @Test(arguments: ["plain", "bf16-tied"])
    func sizingAgreesBetweenCheckpointAndFile(variant: String) async throws {
        let directory = try await Self.checkpoint(variant)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.gguf").path
        try CheckpointConverter(directory: directory).write(to: path, type: .q8_0)
        let fromConfig = try ModelShape(huggingFaceConfig: Data(contentsOf: directory.appendingPathComponent("config.json")), name: "config.json")
        let fromFile = try ModelShape(ggufPath: path)
        #expect(fromConfig.parameterCount == fromFile.parameterCount)
        #expect(fromConfig.stateSpace == fromFile.stateSpace)
        #expect(fromConfig.contextLength == fromFile.contextLength)
    }

    /// The tokenizer.json's vocabulary, merges, pre-tokenizer and special tokens, and tokenizer_config.json's
    /// BOS, EOS and chat template, come across; the vocabulary is padded to the embedding's rows.
    @Test func theTokenizerComesAcross() async throws {
        let directory = try await Self.checkpoint("plain")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.gguf").path
        try CheckpointConverter(directory: directory).write(to: path, type: .q8_0)
        let model = try LoadedModel(path: path)
        #expect(model.vocabularySize == 304)
        #expect(model.tokenizer.bos == 265 && model.tokenizer.eos == 266)
        // "hello" and " world" are single merged tokens; BOS comes first.
        #expect(model.tokenizer.encode("hello world") == [265, 259, 264])
        #expect(model.tokenizer.decode(model.tokenizer.encode("hello, wörld 42!")) == "hello, wörld 42!")
        #expect(model.chatTemplateOrigin.contains("model file"))
        let metadata = try GGUFFile(path: path).metadata
        #expect(metadata.string("tokenizer.ggml.pre") == "llama-bpe")
        #expect(metadata["tokenizer.ggml.tokens"]?.array?.last?.string == "[PAD303]")
    }
}

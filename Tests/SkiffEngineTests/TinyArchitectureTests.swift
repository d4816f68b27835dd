import Foundation
import GGUFTestSupport
import SkiffEngine
import SkiffModelFile
import Testing

/// Each architecture on a tiny model with random weights (`TinyModel`) against llama.cpp on the same file:
/// the next-token logits after a 20-token prompt (longer than gemma3's 8-token window), and the greedy
/// tokens from there up to llama.cpp's first near-tie.
///
/// `Fixtures/tiny-architectures.json` holds llama.cpp's answers (llama-cpp-python 0.3.36's vendor tree,
/// one decode of the prompt, CPU, 2 threads). To remake it, run this suite with SKIFF_TINY_MODEL_DIR set:
/// the models are written there as `tiny-ARCH.gguf` for llama.cpp to read.
@Suite(.serialized) struct TinyArchitectureTests {
    struct Expected: Decodable {
        var prompt: [Int32]
        var logits: [Float]
        var greedy: [Int32]
        /// llama.cpp's margin between its two most likely tokens at each greedy step.
        var gaps: [Float]
    }

    static let fixture: [String: Expected] = {
        let url = Bundle.module.url(forResource: "tiny-architectures", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: url))
    }()

    /// The largest difference from llama.cpp's logits allowed, relative to the largest logit: both engines
    /// quantize activations for Q8_0 weights, but llama.cpp also rounds them to half precision for F16
    /// weights, and sums in other orders. (Measured: 0.3 % to 1.5 %; with every tensor F32, 0.05 % to 0.12 %.)
    static let tolerance: Float = 0.02

    /// A greedy step whose top-2 margin in llama.cpp is below this is a near-tie: either engine may rightly
    /// take the other token, and the sequences part there, so the comparison ends at it. It is over twice
    /// the largest logit difference measured (0.045).
    static let nearTie: Float = 0.1

    @Test(arguments: TinyModel.architectures)
    func matchesLlamaCpp(architecture: String) throws {
        let data = TinyModel.build(architecture: architecture).build()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-tiny-\(architecture)-\(getpid()).gguf").path
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        if let directory = ProcessInfo.processInfo.environment["SKIFF_TINY_MODEL_DIR"] {
            try data.write(to: URL(fileURLWithPath: directory + "/tiny-\(architecture).gguf"))
        }
        let expected = try #require(Self.fixture[architecture], "no llama.cpp answers for \(architecture)")
        let model = try LoadedModel(path: path)
        #expect(model.architecture == architecture)
        let session = try GenerationSession(model: model, threads: 2)
        let logits = try session.append(expected.prompt)
        #expect(logits.count == expected.logits.count)
        let scale = expected.logits.map(abs).max() ?? 1
        let worst = zip(logits, expected.logits).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= Self.tolerance * scale, "\(architecture): largest logit difference \(worst), largest logit \(scale)")

        // Greedy tokens up to llama.cpp's first near-tie; the fixture's prompt leaves at least 3 clear steps.
        let clear = expected.gaps.firstIndex { $0 < Self.nearTie } ?? expected.gaps.count
        #expect(clear >= 3)
        var greedy: [Int32] = []
        var next = logits
        for _ in 0 ..< clear {
            let token = Int32(next.indices.max { next[$0] < next[$1] }!)
            greedy.append(token)
            next = try session.append([token])
        }
        #expect(greedy == Array(expected.greedy.prefix(clear)), "\(architecture)")
    }

    /// A model loaded for a GPU keeps its weights unpacked (they go to the device from the file); should a CPU runner
    /// ask for them after all, they are packed then, and it computes exactly what a model packed at load computes.
    @Test(arguments: TinyModel.architectures)
    func weightsLeftUnpackedAtLoadArePackedOnFirstUse(architecture: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-lazy-\(architecture)-\(getpid()).gguf").path
        try TinyModel.build(architecture: architecture).build().write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let prompt = try #require(Self.fixture[architecture]).prompt
        let packed = try GenerationSession(model: LoadedModel(path: path), threads: 2).append(prompt)
        let unpacked = try GenerationSession(model: LoadedModel(path: path, packWeights: false), threads: 2).append(prompt)
        #expect(unpacked == packed)
    }
}

import Foundation
import SkiffGGUF
import SkiffTokenizer
import Testing

/// The real model files the tests read, and the tokenizers built from them (once per test run).
enum TestModels {
    static let smolLMFileName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    static let gemmaFileName = "gemma-3-270m-q4_k_m.gguf"

    /// SmolLM2's path: `$SKIFF_TEST_MODEL`, else the file in the model cache.
    static let smolLMPath = locate(smolLMFileName, override: "SKIFF_TEST_MODEL")
    /// Gemma 3's path: `$SKIFF_TEST_GEMMA_MODEL`, else the file in the model cache.
    static let gemmaPath = locate(gemmaFileName, override: "SKIFF_TEST_GEMMA_MODEL")

    static let smolLMMissing = """
        SmolLM2 test model not found. Pull it into the model cache with `skiff pull smollm2-135m-instruct` \
        (`make test` does this), or set SKIFF_TEST_MODEL to the path of \(smolLMFileName). Looked in: \
        \(candidates(smolLMFileName, override: "SKIFF_TEST_MODEL").joined(separator: ", "))
        """

    static let gemmaMissing = """
        Gemma 3 test model not found. Pull it into the model cache with `skiff pull gemma-3-270m` \
        (`make test` does this), or set SKIFF_TEST_GEMMA_MODEL to the path of \(gemmaFileName). Looked in: \
        \(candidates(gemmaFileName, override: "SKIFF_TEST_GEMMA_MODEL").joined(separator: ", "))
        """

    /// SmolLM2's tokenizer; a missing model is reported as a test failure by `smolLM()`.
    private static let smolLMResult: Result<Tokenizer, any Error>? = smolLMPath.map(load)
    private static let gemmaResult: Result<Tokenizer, any Error>? = gemmaPath.map(load)

    /// SmolLM2's tokenizer, or a thrown error explaining how to get the model.
    static func smolLM() throws -> Tokenizer {
        guard let smolLMResult else {
            throw MissingModel(message: smolLMMissing)
        }
        return try smolLMResult.get()
    }

    /// Gemma 3's tokenizer, or a thrown error explaining how to get the model.
    static func gemma() throws -> Tokenizer {
        guard let gemmaResult else {
            throw MissingModel(message: gemmaMissing)
        }
        return try gemmaResult.get()
    }

    struct MissingModel: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    private static func load(_ path: String) -> Result<Tokenizer, any Error> {
        Result { try Tokenizer(metadata: GGUFFile(path: path).metadata) }
    }

    private static func locate(_ fileName: String, override: String) -> String? {
        candidates(fileName, override: override).first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Where a model may be, in order: the override variable, `$SKIFF_MODEL_DIR`, `$XDG_CACHE_HOME/skiff/models`,
    /// `~/.cache/skiff/models` (the model store's own order).
    private static func candidates(_ fileName: String, override: String) -> [String] {
        let environment = ProcessInfo.processInfo.environment
        var paths: [String] = []
        if let path = environment[override], !path.isEmpty {
            paths.append(path)
        }
        if let directory = environment["SKIFF_MODEL_DIR"], !directory.isEmpty {
            paths.append(directory + "/" + fileName)
        }
        if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/") {
            paths.append(cache + "/skiff/models/" + fileName)
        }
        paths.append(NSHomeDirectory() + "/.cache/skiff/models/" + fileName)
        return paths
    }
}

/// A fixture file written by `Fixtures/generate.py`.
struct TokenizerFixture: Decodable {
    struct Case: Decodable, CustomTestStringConvertible {
        var name: String
        var text: String
        var addSpecial: Bool
        var parseSpecial: Bool
        var ids: [Int32]

        var testDescription: String { "\(name) (addSpecial: \(addSpecial), parseSpecial: \(parseSpecial))" }
    }

    var model: String
    var reference: String
    var cases: [Case]

    /// Loads `Fixtures/<name>.json` from the test bundle.
    static func load(_ name: String) throws -> TokenizerFixture {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(TokenizerFixture.self, from: Data(contentsOf: url))
    }
}

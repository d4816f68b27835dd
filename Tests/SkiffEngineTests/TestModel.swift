import Foundation
import SkiffEngine
import SkiffModelFile

/// The default model, as `make test` pulls it: env SKIFF_TEST_MODEL, else the model directory.
enum TestModel {
    static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    static var path: String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["SKIFF_TEST_MODEL"], !explicit.isEmpty { return explicit }
        return modelDirectory + "/" + fileName
    }

    /// The directory `make test` pulls models into: env SKIFF_MODEL_DIR, else the cache's.
    static var modelDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["SKIFF_MODEL_DIR"], !directory.isEmpty { return directory }
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache"
        return cache + "/skiff/models"
    }

    /// The catalog's second model, Gemma 3 270M (gemma3, Q4_K_M), which `make test` pulls too; loaded once.
    static let gemma: Result<LoadedModel, ModelFileError> = {
        let path = modelDirectory + "/gemma-3-270m-q4_k_m.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            return .failure(ModelFileError(.model, "gemma-3-270m is not at \(path); run `make test` (it pulls it) or `skiff pull gemma-3-270m`"))
        }
        return Result { () throws(ModelFileError) in try LoadedModel(path: path) }
    }()

    /// Loaded once for the whole test run.
    static let shared: Result<LoadedModel, ModelFileError> = {
        guard FileManager.default.fileExists(atPath: path) else {
            return .failure(ModelFileError(.model, "the default model is not at \(path); run `make test` (it pulls it) or `skiff pull`"))
        }
        return Result { () throws(ModelFileError) in try LoadedModel(path: path) }
    }()

    static func load() throws -> LoadedModel { try shared.get() }
}

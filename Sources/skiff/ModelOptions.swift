import ArgumentParser
import Foundation
import SkiffEngine
import SkiffModels
import SkiffModelStore

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("A model file, a model in the model directory, or a catalog name.", valueName: "model"))
    var model: String = ModelCatalog.builtIn.defaultEntry.name

    @Option(help: ArgumentHelp("The model directory (default: $SKIFF_MODEL_DIR, else ~/.cache/skiff/models).", valueName: "path"))
    var modelDir: String?

    @Option(name: .shortAndLong, help: "Compute threads (default: one per CPU core).")
    var threads: Int = ComputePool.defaultThreadCount

    /// Resolves and loads the model, drawing load progress on stderr unless `quiet`.
    func load(quiet: Bool = false) throws -> LoadedModel {
        let path = try ModelStore(explicitPath: modelDir).resolve(model).path
        var lastShown = -1
        let model = try LoadedModel(path: path) { done, total in
            guard !quiet else { return }
            let percent = done * 100 / max(total, 1)
            if percent != lastShown, percent % 10 == 0 || done == total {
                lastShown = percent
                FileHandle.standardError.write(Data("\rloading \(path.split(separator: "/").last ?? "") \(percent)%".utf8))
                if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
        }
        return model
    }

    func validate() throws {
        guard threads >= 1, threads <= 512 else {
            throw ValidationError("--threads must be between 1 and 512")
        }
    }
}

/// Writes text to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

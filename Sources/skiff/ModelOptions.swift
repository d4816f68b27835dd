import ArgumentParser
import Foundation
import SkiffChatTemplate
import SkiffEngine
import SkiffModelFile
import SkiffModels
import SkiffModelStore

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("A model file, a model in the model directory, or a catalog name.", valueName: "model"))
    var model: String = ModelCatalog.builtIn.defaultEntry.name

    @Option(help: ArgumentHelp("The model directory (default: $SKIFF_MODEL_DIR, else ~/.cache/skiff/models).", valueName: "path"))
    var modelDir: String?

    @Option(name: .shortAndLong, help: "Compute threads of the CPU backend (default: one per CPU core).")
    var threads: Int = ComputePool.defaultThreadCount

    @Option(help: ArgumentHelp("Where to compute: auto (the first Vulkan GPU, else the CPU), cpu, vulkan or vulkan:N.", valueName: "device"))
    var device: String = "auto"

    /// The device `--device` names.
    func computeDevice() throws -> ComputeDevice {
        do {
            return try ComputeDevice.named(device)
        } catch {
            throw ValidationError(error.message)
        }
    }

    @Option(help: ArgumentHelp("The chat template: a built-in one (\(BuiltInChatTemplate.allCases.map(\.rawValue).joined(separator: ", "))) or a Jinja file (default: the model file's, else the built-in one whose turn markers its vocabulary has).",
                               valueName: "name|file"))
    var chatTemplate: String?

    /// Resolves and loads the model for `device`, drawing load progress on stderr unless `quiet`. On a GPU the
    /// weights are not packed for the CPU kernels: they stay in the file until they are uploaded.
    func load(quiet: Bool, for device: ComputeDevice) throws -> LoadedModel {
        let path = try ModelStore(explicitPath: modelDir).resolve(model).path
        var lastShown = -1
        let model = try LoadedModel(path: path, chatTemplate: try Self.chatTemplateChoice(chatTemplate), packWeights: device == .cpu) { done, total in
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

    /// `--chat-template NAME|FILE`: a built-in name, else a Jinja file's path; nil: automatic.
    static func chatTemplateChoice(_ argument: String?) throws -> ChatTemplateChoice {
        guard let argument else { return .automatic }
        if let builtIn = BuiltInChatTemplate(rawValue: argument) { return .builtIn(builtIn) }
        guard let source = try? String(contentsOfFile: argument, encoding: .utf8) else {
            throw ValidationError("--chat-template \(argument) is neither a built-in template ("
                                  + BuiltInChatTemplate.allCases.map(\.rawValue).joined(separator: ", ") + ") nor a readable file")
        }
        return .source(source, origin: "the file \(argument)")
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

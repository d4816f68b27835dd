import SkiffGGUF
import SkiffHyperparameters

/// A model architecture's loaded weights: what the engine needs to size its cache and to run it.
///
/// Each architecture is one file under `Architectures/` and one entry in `ModelArchitectures.all`; the
/// engine, server and CLI see only this protocol.
public protocol LanguageModel: AnyObject, Sendable {
    /// The context length the model was trained for, in tokens.
    var contextLength: Int { get }
    /// Rows of the output logits.
    var vocabularySize: Int { get }
    /// What each running sequence keeps, layer by layer.
    var cacheLayout: CacheLayout { get }
    /// Bytes of weights held in memory.
    var weightBytes: Int { get }
    /// Bytes of activations a runner holds per token of its largest batch (its scratch beside weights and cache),
    /// the output head's input included.
    var activationBytesPerToken: Int { get }
    /// A runner of forward passes with its own threads, scratch and paged cache as `options` say. A runner is
    /// driven by one thread at a time.
    func makeRunner(_ options: RunnerOptions) throws(ModelError) -> any ModelRunner
}

extension LanguageModel {
    /// Bytes a runner on a Vulkan device holds there besides the weights and the KV cache, for batches of
    /// `maxBatchTokens` tokens: its activations and the output head's scratch.
    public func deviceScratchBytes(maxBatchTokens: Int) -> Int {
        maxBatchTokens * activationBytesPerToken + VulkanBackend.headScratchBytes(vocabularySize: vocabularySize)
    }
}

/// Runs forward passes of one model over batches of tokens.
public protocol ModelRunner: AnyObject {
    /// The most tokens one forward pass accepts.
    var maxBatchTokens: Int { get }
    /// Runs `batch` through the model and returns the logits of the tokens in `batch.logitIndices`, row
    /// after row (`logitIndices.count × vocabularySize` values).
    func forward(_ batch: ForwardBatch) throws(ModelError) -> [Float]

    /// Copies the recurrent state of slot `source` into slot `destination` (a model with recurrent layers).
    func copyState(from source: Int, to destination: Int) throws(ModelError)
}

/// The architectures Skiff runs, keyed by `general.architecture`.
public enum ModelArchitectures {
    /// Loads the weights of a file whose hyper-parameters have been read; `progress` gets (tensors done, total).
    public typealias Loader = @Sendable (GGUFFile, ModelHyperparameters, (Int, Int) -> Void) throws(ModelError) -> any LanguageModel

    /// Every architecture, by its `general.architecture` name: Gemma 3's, Llamba's and Mamba-2's files, and the
    /// llama family's (`Llama.variants`).
    public static let all: [String: Loader] = {
        let llama: Loader = { file, h, progress throws(ModelError) in try Llama(file: file, hyperparameters: h, progress: progress) }
        var all: [String: Loader] = [
            "gemma3": { file, h, progress throws(ModelError) in try Gemma3(file: file, hyperparameters: h, progress: progress) },
            "llamba": { file, h, progress throws(ModelError) in try Llamba(file: file, hyperparameters: h, progress: progress) },
            "mamba2": { file, h, progress throws(ModelError) in try Mamba2(file: file, hyperparameters: h, progress: progress) },
        ]
        for name in Llama.variants.keys { all[name] = llama }
        return all
    }()

    /// The names of `all`, sorted, for messages and for sizing's list of what the engine runs.
    public static var names: [String] { all.keys.sorted() }

    /// Reads the hyper-parameters of `file` and loads its weights with its architecture's loader.
    /// - Throws: `ModelError` `.unsupportedArchitecture` naming the architectures there are, or what the
    ///   hyper-parameters or the loader refuse.
    public static func load(_ file: GGUFFile, progress: (Int, Int) -> Void = { _, _ in }) throws(ModelError) -> any LanguageModel {
        guard let architecture = file.architecture else {
            throw ModelError(.invalidHyperparameter, "the model file has no general.architecture key")
        }
        guard let loader = all[architecture] else {
            throw ModelError(.unsupportedArchitecture, "architecture '\(architecture)' is not supported; Skiff runs \(names.joined(separator: ", "))")
        }
        let hyperparameters: ModelHyperparameters
        do {
            hyperparameters = try ModelHyperparameters(file: file)
        } catch {
            throw ModelError(.invalidHyperparameter, error.message)
        }
        return try loader(file, hyperparameters, progress)
    }
}

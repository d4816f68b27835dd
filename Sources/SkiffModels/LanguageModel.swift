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
    /// Loads the weights of `file`, whose hyper-parameters are `hyperparameters`, packing them for the CPU kernels
    /// now when `packWeights` (else on first CPU use); `progress` gets (work done, total).
    init(file: GGUFFile, hyperparameters: ModelHyperparameters, packWeights: Bool, progress: (Int, Int) -> Void) throws(ModelError)
    /// Bytes of activations a runner holds per token of its largest batch (its scratch beside weights and cache),
    /// the output head's input included, for a model of hyper-parameters `h`.
    static func activationBytesPerToken(_ h: ModelHyperparameters) throws(ModelError) -> Int
    /// A runner of forward passes with its own threads, scratch and paged cache as `options` say. A runner is
    /// driven by one thread at a time.
    func makeRunner(_ options: RunnerOptions) throws(ModelError) -> any ModelRunner
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
    /// Every architecture, by its `general.architecture` name: Gemma 3's, Llamba's and Mamba-2's files, and the
    /// llama family's (`Llama.variants`).
    static let all: [String: any LanguageModel.Type] = {
        var all: [String: any LanguageModel.Type] = ["gemma3": Gemma3.self, "llamba": Llamba.self, "mamba2": Mamba2.self]
        for name in Llama.variants.keys { all[name] = Llama.self }
        return all
    }()

    /// The names of `all`, sorted, for messages and for sizing's list of what the engine runs.
    public static var names: [String] { all.keys.sorted() }

    /// Reads the hyper-parameters of `file` and loads its weights with its architecture's loader, packed for the CPU
    /// kernels when `packWeights` (a model that computes on a GPU leaves them in the file until it uploads them).
    /// - Throws: `ModelError` `.unsupportedArchitecture` naming the architectures there are, or what the
    ///   hyper-parameters or the loader refuse.
    public static func load(_ file: GGUFFile, packWeights: Bool = true, progress: (Int, Int) -> Void = { _, _ in }) throws(ModelError) -> any LanguageModel {
        let (model, hyperparameters) = try architecture(of: file)
        return try model.init(file: file, hyperparameters: hyperparameters, packWeights: packWeights, progress: progress)
    }

    /// What a runner of `file`'s model holds on a GPU besides its weights and KV cache, from the file's
    /// hyper-parameters alone (no weight is read): `skiff serve` and `skiff plan` size the cache with it.
    public static func deviceScratch(of file: GGUFFile) throws(ModelError) -> DeviceScratch {
        let (model, h) = try architecture(of: file)
        let perToken = try model.activationBytesPerToken(h)
        return DeviceScratch(bytesPerToken: perToken, fixedBytes: VulkanBackend.headScratchBytes(vocabularySize: h.vocabularySize ?? 0))
    }

    /// The architecture of `file` and its hyper-parameters.
    private static func architecture(of file: GGUFFile) throws(ModelError) -> (any LanguageModel.Type, ModelHyperparameters) {
        guard let architecture = file.architecture else {
            throw ModelError(.invalidHyperparameter, "the model file has no general.architecture key")
        }
        guard let model = all[architecture] else {
            throw ModelError(.unsupportedArchitecture, "architecture '\(architecture)' is not supported; Skiff runs \(names.joined(separator: ", "))")
        }
        do {
            return (model, try ModelHyperparameters(file: file))
        } catch {
            throw ModelError(.invalidHyperparameter, error.message)
        }
    }
}

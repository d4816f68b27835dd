import SkiffChatTemplate
import SkiffGGUF
import SkiffHyperparameters
import SkiffJSON
import SkiffModels
import SkiffTokenizer

/// A model ready to run: its weights, tokenizer and chat template, all read from one GGUF file.
public final class LoadedModel: Sendable {
    /// The file's path.
    public let path: String
    /// A display name (`general.name`, else the file name).
    public let name: String
    /// The network, of the file's architecture.
    package let network: any LanguageModel
    /// `general.architecture`.
    public let architecture: String
    /// Text ↔ token ids.
    public let tokenizer: Tokenizer
    /// The chat template conversations are rendered with, if any (see `ChatTemplateChoice`).
    public let chatTemplate: ChatTemplate?
    /// Where `chatTemplate` came from, for logs: "the model file", "built-in gemma (the model file has none)", ...
    public let chatTemplateOrigin: String
    /// The sampling settings the file recommends (`general.sampling.*`), if any.
    public let samplingRecommendation: SamplingRecommendation
    /// Bytes of the file's tensors as stored: what a GPU holds of the weights, which are uploaded in their GGUF
    /// layouts (and what `skiff plan` counts for a GGUF file).
    public let storedWeightBytes: Int
    /// What a runner holds on a GPU besides the weights and the KV cache.
    public let deviceScratch: DeviceScratch

    /// Loads the model at `path` with the chat template `template` chooses, its weights packed for the CPU kernels
    /// unless `packWeights` is false (a model that computes on a GPU: they are packed only if a CPU runner asks).
    /// `progress` gets (work done, total) while weights are loaded.
    public init(path: String, chatTemplate template: ChatTemplateChoice = .automatic, packWeights: Bool = true,
                progress: (Int, Int) -> Void = { _, _ in }) throws(ModelFileError) {
        self.path = path
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw ModelFileError(.model, error.message)
        }
        do {
            tokenizer = try Tokenizer(metadata: file.metadata)
        } catch {
            throw ModelFileError(error)
        }
        samplingRecommendation = try SamplingRecommendation(metadata: file.metadata)
        (chatTemplate, chatTemplateOrigin) = try template.resolve(fileTemplate: file.metadata.string("tokenizer.chat_template"),
                                                                  tokenizer: tokenizer)
        do {
            network = try ModelArchitectures.load(file, packWeights: packWeights, progress: progress)
            deviceScratch = try ModelArchitectures.deviceScratch(of: file)
        } catch {
            throw ModelFileError(error)
        }
        storedWeightBytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        architecture = file.architecture ?? ""
        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        name = file.metadata.string("general.name") ?? fileName
    }

    /// The context length the model was trained for, in tokens.
    public var contextLength: Int { network.contextLength }
    /// The number of tokens in the vocabulary (rows of the logits).
    public var vocabularySize: Int { network.vocabularySize }
    /// What each running sequence keeps in the cache, layer by layer.
    public var cacheLayout: CacheLayout { network.cacheLayout }
    /// Bytes of weights held in memory.
    public var weightBytes: Int { network.weightBytes }

    /// Renders `messages` with the model's chat template and tokenizes the result. Special tokens in the
    /// rendered text are parsed; no BOS is added, since templates write their own (as Hugging Face does). `tools` (OpenAI
    /// tool definitions) are given to the template as `tools`.
    public func promptTokens(for messages: [ChatMessage], tools: [JSONValue]? = nil, addGenerationPrompt: Bool = true) throws(ModelFileError) -> [Int32] {
        guard let chatTemplate else {
            throw ModelFileError(.chatTemplate, "model '\(name)' has no chat template (tokenizer.chat_template) and its vocabulary has none of the turn markers of "
                              + "Skiff's built-in ones; pass --chat-template NAME|FILE, or use a plain completion instead")
        }
        let text: String
        do {
            text = try chatTemplate.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                           bosToken: tokenizer.bos.flatMap(tokenizer.tokenText) ?? "",
                                           eosToken: tokenizer.eos.flatMap(tokenizer.tokenText) ?? "", tools: tools)
        } catch {
            throw ModelFileError(error)
        }
        return tokenizer.encode(text, addSpecial: false, parseSpecial: true)
    }
}

/// Which chat template a model's conversations are rendered with.
public enum ChatTemplateChoice: Sendable, Equatable {
    /// The file's `tokenizer.chat_template`; for a file without one, the built-in format whose turn marker
    /// the vocabulary has (Gemma's, Llama 3's or ChatML's), else none. The vocabulary decides rather than
    /// `general.architecture`, because one architecture serves several chat formats (a `llama` file may be
    /// Llama 2, Llama 3 or a ChatML fine-tune) and a format's markers are only useful if they are tokens.
    case automatic
    /// A built-in format, whatever the file says.
    case builtIn(BuiltInChatTemplate)
    /// A Jinja template's source, and where it was read from.
    case source(String, origin: String)

    /// The template and its origin for a file whose own template is `fileTemplate`.
    func resolve(fileTemplate: String?, tokenizer: Tokenizer) throws(ModelFileError) -> (ChatTemplate?, String) {
        func parse(_ source: String, _ origin: String) throws(ModelFileError) -> (ChatTemplate?, String) {
            do {
                return (try ChatTemplate(source: source), origin)
            } catch {
                throw ModelFileError(error)
            }
        }
        switch self {
        case .builtIn(let builtIn):
            return (builtIn.template, "built-in \(builtIn.rawValue)")
        case .source(let source, let origin):
            return try parse(source, origin)
        case .automatic:
            if let fileTemplate { return try parse(fileTemplate, "the model file") }
            for builtIn in BuiltInChatTemplate.allCases where tokenizer.specialTokenID(builtIn.turnMarker) != nil {
                return (builtIn.template, "built-in \(builtIn.rawValue) (the model file has none; its vocabulary has \(builtIn.turnMarker))")
            }
            return (nil, "none (the model file has none)")
        }
    }
}

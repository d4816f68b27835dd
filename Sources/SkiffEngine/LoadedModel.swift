import SkiffChatTemplate
import SkiffGGUF
import SkiffHyperparameters
import SkiffModels
import SkiffTokenizer

/// A model ready to run: its weights, tokenizer and chat template, all read from one GGUF file.
public final class LoadedModel: Sendable {
    /// The file's path.
    public let path: String
    /// A display name (`general.name`, else the file name).
    public let name: String
    /// The network, of the file's architecture.
    let network: any LanguageModel
    /// `general.architecture`.
    public let architecture: String
    /// Text ↔ token ids.
    public let tokenizer: Tokenizer
    /// The file's chat template, if it has one.
    public let chatTemplate: ChatTemplate?
    /// The sampling settings the file recommends (`general.sampling.*`), if any.
    public let samplingRecommendation: SamplingRecommendation

    /// Loads the model at `path`. `progress` gets (tensors done, total) while weights are repacked.
    public init(path: String, progress: (Int, Int) -> Void = { _, _ in }) throws(EngineError) {
        self.path = path
        let file: GGUFFile
        do {
            file = try GGUFFile(path: path)
        } catch {
            throw EngineError(.model, error.message)
        }
        do {
            tokenizer = try Tokenizer(metadata: file.metadata)
        } catch {
            throw EngineError(error)
        }
        samplingRecommendation = try SamplingRecommendation(metadata: file.metadata)
        if let source = file.metadata.string("tokenizer.chat_template") {
            do {
                chatTemplate = try ChatTemplate(source: source)
            } catch {
                throw EngineError(error)
            }
        } else {
            chatTemplate = nil
        }
        do {
            network = try ModelArchitectures.load(file, progress: progress)
        } catch {
            throw EngineError(error)
        }
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
    /// rendered text are parsed; no BOS is added, since templates write their own (as Hugging Face does).
    public func promptTokens(for messages: [ChatMessage], addGenerationPrompt: Bool = true) throws(EngineError) -> [Int32] {
        guard let chatTemplate else {
            throw EngineError(.chatTemplate, "model '\(name)' has no chat template (tokenizer.chat_template); use a plain completion instead")
        }
        let text: String
        do {
            text = try chatTemplate.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                           bosToken: tokenizer.bos.flatMap(tokenizer.tokenText) ?? "",
                                           eosToken: tokenizer.eos.flatMap(tokenizer.tokenText) ?? "")
        } catch {
            throw EngineError(error)
        }
        return tokenizer.encode(text, addSpecial: false, parseSpecial: true)
    }
}

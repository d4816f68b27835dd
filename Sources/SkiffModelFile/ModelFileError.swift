import SkiffChatTemplate
import SkiffModels
import SkiffTokenizer

/// Why a model file could not be made ready to run, or a conversation could not be rendered with it.
public struct ModelFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: Sendable, Equatable {
        /// The file, its hyper-parameters or its tensors (including its sampling recommendation).
        case model
        /// The tokenizer the file describes.
        case tokenizer
        /// The chat template is missing, invalid or raised an error.
        case chatTemplate
    }

    /// The kind of problem.
    public var code: Code
    /// What went wrong, in words a user can act on.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension ModelFileError {
    init(_ error: ModelError) { self.init(.model, error.message) }
    init(_ error: TokenizerError) { self.init(.tokenizer, error.description) }
    init(_ error: ChatTemplateError) { self.init(.chatTemplate, error.description) }
}

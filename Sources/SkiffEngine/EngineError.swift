import SkiffModelFile
import SkiffModels

/// Why the engine could not do what was asked.
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: Sendable, Equatable {
        /// The model file could not be loaded.
        case model
        /// The model's tokenizer could not be built.
        case tokenizer
        /// The chat template is missing, invalid or raised an error.
        case chatTemplate
        /// The tokens do not fit the context window.
        case contextOverflow
        /// Input too short or otherwise unusable (for example perplexity on a tiny text).
        case invalidInput
        /// Too many requests are waiting; the caller should retry later.
        case overloaded
        /// The engine is shutting down or has stopped.
        case unavailable
        /// The request's deadline passed before it finished.
        case timedOut
    }

    /// The kind of problem.
    public var code: Code
    /// What went wrong, in words a user can act on.
    public var message: String
    /// The request field at fault (`prompt`, `max_tokens`), when one is.
    public var field: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { message }
}

extension EngineError {
    init(_ error: ModelError) { self.init(.model, error.message) }

    /// The engine's view of a model file's error.
    public init(_ error: ModelFileError) {
        switch error.code {
        case .model: self.init(.model, error.message)
        case .tokenizer: self.init(.tokenizer, error.message)
        case .chatTemplate: self.init(.chatTemplate, error.message)
        }
    }
}

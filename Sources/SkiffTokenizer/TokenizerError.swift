/// Why a tokenizer could not be built from a model file's metadata.
///
/// Every message names the metadata key or value at fault and, where there is one, what would work
/// instead (for example the pre-tokenizer names this build supports).
public struct TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: Sendable, Equatable {
        /// `tokenizer.ggml.model` names a tokenizer algorithm this build does not implement.
        case unsupportedModel
        /// `tokenizer.ggml.pre` names a pre-tokenizer (text splitting rule) this build does not implement.
        case unsupportedPreTokenizer
        /// A metadata key the tokenizer needs is absent or has the wrong type.
        case missingKey
        /// A metadata value is present but inconsistent (wrong length, out-of-range id, malformed entry).
        case invalidMetadata
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

    /// The message.
    public var description: String { message }
}

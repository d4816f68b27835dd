/// Why a checkpoint could not be converted, in words that name the file, key or tensor at fault.
public struct ConvertError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: Sendable, Equatable {
        /// The checkpoint's files are missing, unreadable or malformed.
        case invalidCheckpoint
        /// `config.json` describes a model this converter does not know, or values it cannot convert.
        case unsupportedModel
        /// A tensor is missing, unexpected, of the wrong shape, or of a dtype the converter cannot read.
        case unsupportedTensor
        /// The tokenizer could not be read or is of a kind Skiff cannot run.
        case unsupportedTokenizer
        /// The output file could not be written.
        case unwritable
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

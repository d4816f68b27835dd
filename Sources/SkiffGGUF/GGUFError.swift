/// Why a GGUF file could not be read.
///
/// Every case names the offending part of the file, so a user can tell a truncated download from a file
/// written by an incompatible tool.
public struct GGUFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: Sendable, Equatable {
        /// The file could not be opened or mapped.
        case unreadable
        /// The first four bytes are not `GGUF`.
        case badMagic
        /// A version other than 2 or 3.
        case unsupportedVersion
        /// The file ends before a structure that should be there.
        case truncated
        /// A count or length that cannot fit in the rest of the file.
        case implausibleCount
        /// A metadata value type, bool value or string encoding outside the specification.
        case invalidValue
        /// A tensor whose type id is not a known ggml type.
        case unknownTensorType
        /// A tensor whose shape, offset or size is inconsistent with its type or the file.
        case invalidTensor
        /// A metadata key the reader needs is missing or has the wrong type.
        case missingKey
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

/// Why a GGUF file could not be read.
///
/// Every case names the offending part of the file, so a user can tell a truncated download from a file
/// written by an incompatible tool.
public struct GGUFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: Sendable, Equatable {
        /// The file could not be opened or mapped.
        case unreadable
        /// A file being written could not be created, written or moved into place.
        case unwritable
        /// The first four bytes are not `GGUF`.
        case badMagic
        /// A version other than 2 or 3.
        case unsupportedVersion
        /// The file ends before a structure that should be there.
        case truncated
        /// A count or length that cannot fit in the rest of the file.
        case implausibleCount
        /// A metadata value type, bool value or string encoding outside the specification, or a value of the
        /// wrong type or out of the range a reader needs.
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

    /// A metadata value a reader cannot use, in words that name the key, the value and what would do:
    /// "GGUF key 'general.alignment' is 24; it must be a power of two from 8 to 1048576".
    public static func invalidValue(key: String, value: GGUFValue, requirement: String) -> GGUFError {
        GGUFError(.invalidValue, "GGUF key '\(key)' is \(value); it must be \(requirement)")
    }
}

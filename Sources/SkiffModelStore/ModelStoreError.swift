/// A failure of the model store or of a pull, with a code to match on and a message a person can act on.
///
/// Every error thrown by this module is a `ModelStoreError`, except `CancellationError` when the
/// pulling task is cancelled. The message names the file, URL or value involved and says what to do next.
public struct ModelStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. Match on it; show ``ModelStoreError/message`` to people.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidReference
            case modelNotFound
            case invalidFileName
            case invalidChecksum
            case httpStatus
            case network
            case checksumMismatch
            case sizeMismatch
            case notGGUF
            case archiveMemberMissing
            case archiveUnreadable
            case noSpaceLeft
            case pullInProgress
            case fileSystem
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A model reference is not a catalog name, an http(s) URL or an existing file.
        public static let invalidReference = Code(.invalidReference)
        /// No model of that name or path is in the store.
        public static let modelNotFound = Code(.modelNotFound)
        /// A file name for the store is empty, hidden, or contains a path separator.
        public static let invalidFileName = Code(.invalidFileName)
        /// A sha256 value is not 64 hexadecimal digits.
        public static let invalidChecksum = Code(.invalidChecksum)
        /// The server answered with an HTTP status other than success.
        public static let httpStatus = Code(.httpStatus)
        /// The connection failed or broke off; the partial download is kept for a resume.
        public static let network = Code(.network)
        /// The bytes' sha256 is not the expected one; the bad file was deleted.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// The file has another size than the expected one; the bad file was deleted.
        public static let sizeMismatch = Code(.sizeMismatch)
        /// The file does not start with the GGUF magic bytes; it was deleted.
        public static let notGGUF = Code(.notGGUF)
        /// The archive has no member at the requested path.
        public static let archiveMemberMissing = Code(.archiveMemberMissing)
        /// The archive cannot be read as a zip file, or a member fails its CRC check.
        public static let archiveUnreadable = Code(.archiveUnreadable)
        /// The disk holding the model directory is full.
        public static let noSpaceLeft = Code(.noSpaceLeft)
        /// Another pull is writing the same partial file right now.
        public static let pullInProgress = Code(.pullInProgress)
        /// Another file-system call failed (permissions, missing directory, and so on).
        public static let fileSystem = Code(.fileSystem)

        /// The code's name, such as `checksumMismatch`.
        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What went wrong and what to do about it, in words for the person running the command.
    public let message: String
    /// The lower-level error this one wraps, if any (an HTTP client or zip library error, say).
    public let underlyingError: (any Error)?

    init(_ code: Code, _ message: String, underlyingError: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlyingError = underlyingError
    }

    /// The message, so that printing the error shows what a person needs.
    public var description: String { message }
}

/// Why the chat store could not do what was asked, with a message a person running the chat tier can act on.
public struct ChatStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable {
        /// The `--database` value is not a URL the store understands.
        case invalidDatabaseURL
        /// The database could not be opened or reached.
        case unreachable
        /// A schema migration failed; the schema is left as it was before that migration.
        case migrationFailed
        /// The database refused or failed a statement.
        case query
        /// A row did not have the shape the store expects (a column missing or of another type).
        case corruptRow
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong and, where possible, how to fix it.
    public var message: String
    /// The error from the database driver, if any.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        guard let underlying else { return message }
        return "\(message) (\(String(reflecting: underlying)))"
    }
}

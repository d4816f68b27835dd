import Foundation

/// Where the chat tier keeps its data: an SQLite file or a PostgreSQL database.
///
/// Parsed from the `--database` flag: `sqlite:///absolute/path/chat.db` or
/// `postgres://user:password@host:5432/database[?sslmode=disable|prefer|require]`.
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// An SQLite database file (created with its directory if absent).
    case sqlite(path: String)
    /// A PostgreSQL server.
    case postgres(PostgresLocation)

    /// The address and credentials of a PostgreSQL database.
    public struct PostgresLocation: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String?
        public var tls: TLSMode

        /// Whether to speak TLS to the server, as libpq's `sslmode` says it.
        public enum TLSMode: String, Sendable, Equatable {
            /// Plain TCP (for loopback or a private network).
            case disable
            /// TLS when the server offers it, plain TCP otherwise (libpq's default).
            case prefer
            /// TLS or no connection.
            case require
        }
    }

    /// Parses a `--database` value.
    public init(parsing text: String) throws(ChatStoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("sqlite://") {
            let path = String(trimmed.dropFirst("sqlite://".count))
            guard path.hasPrefix("/"), path.count > 1 else {
                throw ChatStoreError(
                    .invalidDatabaseURL,
                    "SQLite URL '\(text)' needs an absolute path: sqlite:///absolute/path/chat.db (three slashes)")
            }
            self = .sqlite(path: path.removingPercentEncoding ?? path)
            return
        }
        guard trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://"),
            let components = URLComponents(string: trimmed)
        else {
            throw ChatStoreError(
                .invalidDatabaseURL,
                "database URL '\(Self.redacted(text))' is neither sqlite:///absolute/path/chat.db nor postgres://user:password@host:5432/database"
            )
        }
        guard let host = components.host, !host.isEmpty else {
            throw ChatStoreError(.invalidDatabaseURL, "PostgreSQL URL '\(Self.redacted(text))' has no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw ChatStoreError(
                .invalidDatabaseURL, "PostgreSQL URL '\(Self.redacted(text))' has no user name: postgres://USER:PASSWORD@\(host)/DATABASE")
        }
        var tls = PostgresLocation.TLSMode.prefer
        for item in components.queryItems ?? [] where item.name == "sslmode" {
            switch item.value ?? "" {
            case "disable": tls = .disable
            case "allow", "prefer": tls = .prefer
            case "require", "verify-ca", "verify-full": tls = .require
            default:
                throw ChatStoreError(
                    .invalidDatabaseURL, "sslmode '\(item.value ?? "")' is not one of disable, prefer, require")
            }
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self = .postgres(
            PostgresLocation(
                host: host,
                port: components.port ?? 5432,
                username: user.removingPercentEncoding ?? user,
                password: components.password.map { $0.removingPercentEncoding ?? $0 },
                database: database.isEmpty ? nil : (database.removingPercentEncoding ?? database),
                tls: tls))
    }

    /// The default database: `chat.db` in the user's data directory (`$XDG_DATA_HOME/skiff`, else
    /// `~/.local/share/skiff`).
    public static func defaultSQLite(environment: [String: String] = ProcessInfo.processInfo.environment) -> DatabaseURL {
        let dataHome: String
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            dataHome = xdg
        } else {
            let home = environment["HOME"] ?? NSHomeDirectory()
            dataHome = home + "/.local/share"
        }
        return .sqlite(path: dataHome + "/skiff/chat.db")
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite://\(path)"
        case .postgres(let location):
            let credentials = location.username + (location.password == nil ? "" : ":***")
            return "postgres://\(credentials)@\(location.host):\(location.port)/\(location.database ?? "")"
        }
    }

    private static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let scheme = text.range(of: "://"), scheme.upperBound < at else {
            return text
        }
        let credentials = text[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}

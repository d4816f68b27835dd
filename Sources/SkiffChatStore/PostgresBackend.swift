import Logging
import NIOSSL
import PostgresNIO

/// PostgreSQL through postgres-nio's connection pool. Writes need no queue here: the server's row locks
/// order them; exclusive transactions take a transaction-scoped advisory lock.
final class PostgresBackend: SQLBackend {
    private let client: PostgresClient
    private let location: DatabaseURL.PostgresLocation
    private let logger: Logger

    /// The advisory lock key exclusive transactions take ("skiffcht" in ASCII).
    static let advisoryLockKey: Int64 = 0x736B_6966_6663_6874

    init(location: DatabaseURL.PostgresLocation, maximumConnections: Int = 20, logger: Logger) {
        let tls: PostgresClient.Configuration.TLS
        switch location.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username,
            password: location.password, database: location.database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.location = location
        self.logger = logger
    }

    func query(_ sql: String, _ binds: [SQLValue]) async throws(ChatStoreError) -> [SQLRow] {
        do {
            return try await Self.rows(client.query(Self.query(sql, binds), logger: logger).collect())
        } catch {
            throw wrap(error)
        }
    }

    func transaction<T: Sendable>(
        exclusive: Bool, _ body: @Sendable (any SQLExecutor) async throws(ChatStoreError) -> T
    ) async throws(ChatStoreError) -> T {
        let logger = self.logger
        do {
            return try await client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: logger)
                do {
                    if exclusive {
                        _ = try await connection.query(
                            "SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))", logger: logger)
                    }
                    let result = try await body(
                        PostgresTransaction(connection: connection, location: self.location, logger: logger))
                    _ = try await connection.query("COMMIT", logger: logger)
                    return result
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch let error as ChatStoreError {
            throw error
        } catch {
            throw wrap(error)
        }
    }

    func run() async {
        await client.run()
    }

    func shutdown() async {
        // The client closes its connections when `run()` returns (its task cancelled or shut down gracefully).
    }

    fileprivate func wrap(_ error: any Error) -> ChatStoreError {
        Self.wrap(error, location: location)
    }

    fileprivate static func wrap(_ error: any Error, location: DatabaseURL.PostgresLocation) -> ChatStoreError {
        if let error = error as? ChatStoreError { return error }
        if let error = error as? PSQLError {
            switch error.code {
            case .server:
                let message = error.serverInfo?[.message] ?? "unknown error"
                let state = error.serverInfo?[.sqlState] ?? "?"
                return ChatStoreError(.query, "PostgreSQL refused a statement: \(message) (SQLSTATE \(state))", underlying: error)
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed,
                .sslUnsupported, .failedToAddSSLHandler, .unsupportedAuthMechanism,
                .authMechanismRequiresPassword, .saslError:
                return ChatStoreError(
                    .unreachable,
                    "cannot reach PostgreSQL at \(location.host):\(location.port) as '\(location.username)' (\(error.code))",
                    underlying: error)
            default:
                break
            }
        }
        return ChatStoreError(.query, "PostgreSQL statement failed", underlying: error)
    }

    fileprivate static func query(_ sql: String, _ binds: [SQLValue]) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .text(let text): bindings.append(text)
            case .integer(let integer): bindings.append(integer)
            case .double(let double): bindings.append(double)
            case .null: bindings.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    fileprivate static func rows(_ rows: [PostgresRow]) throws -> [SQLRow] {
        try rows.map { row in
            var columns: [String: SQLValue] = [:]
            for cell in row {
                guard cell.bytes != nil else {
                    columns[cell.columnName] = .null
                    continue
                }
                switch cell.dataType {
                case .int2, .int4, .int8:
                    columns[cell.columnName] = .integer(try cell.decode(Int64.self))
                case .float4, .float8, .numeric:
                    columns[cell.columnName] = .double(try cell.decode(Double.self))
                case .bool:
                    columns[cell.columnName] = .integer(try cell.decode(Bool.self) ? 1 : 0)
                default:
                    columns[cell.columnName] = .text(try cell.decode(String.self))
                }
            }
            return SQLRow(columns: columns)
        }
    }
}

private struct PostgresTransaction: SQLExecutor {
    let connection: PostgresConnection
    let location: DatabaseURL.PostgresLocation
    let logger: Logger

    func query(_ sql: String, _ binds: [SQLValue]) async throws(ChatStoreError) -> [SQLRow] {
        do {
            let sequence = try await connection.query(PostgresBackend.query(sql, binds), logger: logger)
            return try PostgresBackend.rows(try await sequence.collect())
        } catch {
            throw PostgresBackend.wrap(error, location: location)
        }
    }
}

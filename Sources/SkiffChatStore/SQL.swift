import Foundation

/// A value bound to or read from a statement: the four column types the chat schema uses.
enum SQLValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case double(Double)
    case null

    init(_ text: String?) { self = text.map(SQLValue.text) ?? .null }
    init(_ integer: Int?) { self = integer.map { .integer(Int64($0)) } ?? .null }
    init(_ double: Double?) { self = double.map(SQLValue.double) ?? .null }
    init(_ bool: Bool) { self = .integer(bool ? 1 : 0) }
    init(_ date: Date) { self = .integer(date.millisecondsSince1970) }
}

/// One result row, by column name.
struct SQLRow: Sendable {
    var columns: [String: SQLValue]

    func string(_ name: String) throws(ChatStoreError) -> String {
        guard case .text(let value) = try self.value(name) else { throw mismatch(name, "text") }
        return value
    }

    func optionalString(_ name: String) throws(ChatStoreError) -> String? {
        switch try value(name) {
        case .null: return nil
        case .text(let value): return value
        default: throw mismatch(name, "text")
        }
    }

    func int(_ name: String) throws(ChatStoreError) -> Int {
        guard let value = try optionalInt(name) else { throw mismatch(name, "integer") }
        return value
    }

    func optionalInt(_ name: String) throws(ChatStoreError) -> Int? {
        switch try value(name) {
        case .null: return nil
        case .integer(let value): return Int(value)
        default: throw mismatch(name, "integer")
        }
    }

    func optionalDouble(_ name: String) throws(ChatStoreError) -> Double? {
        switch try value(name) {
        case .null: return nil
        case .double(let value): return value
        case .integer(let value): return Double(value)
        default: throw mismatch(name, "number")
        }
    }

    func bool(_ name: String) throws(ChatStoreError) -> Bool { try int(name) != 0 }

    func date(_ name: String) throws(ChatStoreError) -> Date {
        Date(millisecondsSince1970: Int64(try int(name)))
    }

    private func value(_ name: String) throws(ChatStoreError) -> SQLValue {
        guard let value = columns[name] else {
            throw ChatStoreError(.corruptRow, "result row has no column '\(name)'")
        }
        return value
    }

    private func mismatch(_ name: String, _ expected: String) -> ChatStoreError {
        ChatStoreError(.corruptRow, "column '\(name)' holds \(columns[name].map { "\($0)" } ?? "nothing"), expected \(expected)")
    }
}

/// Runs statements. SQL uses `$1`, `$2`, ... placeholders on every backend.
protocol SQLExecutor: Sendable {
    func query(_ sql: String, _ binds: [SQLValue]) async throws(ChatStoreError) -> [SQLRow]
}

/// A database the store runs on: SQLite or PostgreSQL.
///
/// The store's SQL is written once in the subset both databases accept (`BIGINT`, `TEXT`,
/// `DOUBLE PRECISION`, `ON CONFLICT`, `RETURNING`); a backend adapts placeholders and connections.
protocol SQLBackend: SQLExecutor {
    /// Runs `body` in one transaction, committing when it returns and rolling back when it throws.
    /// Transactions that write are serialised against each other; `exclusive` ones additionally against
    /// every other exclusive transaction on the same database, from any process (migrations, first user).
    func transaction<T: Sendable>(
        exclusive: Bool, _ body: @Sendable (any SQLExecutor) async throws(ChatStoreError) -> T
    ) async throws(ChatStoreError) -> T

    /// Keeps the backend's connections alive until cancelled or shut down gracefully.
    func run() async

    /// Closes every connection.
    func shutdown() async
}

extension Date {
    var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
    init(millisecondsSince1970 ms: Int64) { self.init(timeIntervalSince1970: Double(ms) / 1000) }
}

import Foundation
import Logging
import NIOPosix
import SQLiteNIO

/// SQLite in WAL mode: one writer connection (writes in this process queue for it instead of spinning on
/// SQLite's busy lock) and a few reader connections that read while the writer writes. Other processes on
/// the same file (a second replica on one host) are waited for by SQLite's busy timeout; where SQLite
/// answers "busy" without waiting (it does when waiting could deadlock, or while another connection
/// recovers the WAL), or its wait runs out, a write or transaction is rolled back and tried again, for
/// up to ``retryWindow``.
final class SQLiteBackend: SQLBackend {
    private let writer: SQLiteConnectionPool
    private let readers: SQLiteConnectionPool
    private let path: String
    /// Threads of this database alone: a statement waiting for another process's lock blocks its
    /// thread, and must not block the statements of other stores in the process (tests open several).
    private let threads: NIOThreadPool

    /// How long a statement waits for another process's write lock before SQLite answers busy.
    static let busyTimeoutMilliseconds = 10_000
    /// How long a write or transaction that SQLite answered busy is tried again before the error stands.
    static let retryWindow = Duration.seconds(120)
    /// Each connection's page cache. SQLite's default (2 MiB a connection) stayed filled after a load and
    /// kept the replica's memory above its idle level; the file's pages stay in the kernel's page cache
    /// anyway, and the chat reads a few rows at a time.
    static let pageCacheKiB = 256

    private init(path: String, writer: SQLiteConnectionPool, readers: SQLiteConnectionPool, threads: NIOThreadPool) {
        self.threads = threads
        self.path = path
        self.writer = writer
        self.readers = readers
    }

    /// Opens (creating if needed) the database file and its directory.
    static func open(path: String, readers readerCount: Int = 2, logger: Logger) async throws(ChatStoreError) -> SQLiteBackend {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ChatStoreError(
                .unreachable, "cannot create the directory \(directory) for the SQLite database", underlying: error)
        }
        var connections: [SQLiteConnection] = []
        let threads = NIOThreadPool(numberOfThreads: readerCount + 1)
        threads.start()
        func openConnection() async throws -> SQLiteConnection {
            try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threads, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
        }
        do {
            let first = try await openConnection()
            connections.append(first)
            try await switchToWAL(first, path: path, logger: logger)
            for index in 0...readerCount {
                let connection = index == 0 ? first : try await openConnection()
                if index > 0 { connections.append(connection) }
                _ = try await connection.query("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
                _ = try await connection.query("PRAGMA foreign_keys = ON")
                _ = try await connection.query("PRAGMA synchronous = NORMAL")
                _ = try await connection.query("PRAGMA cache_size = -\(pageCacheKiB)")
            }
        } catch {
            // Closed from a task of its own, as in shutdown(): when opening failed because the caller was
            // cancelled, the thread pool refuses its work, and an unclosed connection traps when freed.
            let opened = connections
            await Task {
                for connection in opened { try? await connection.close() }
                try? await threads.shutdownGracefully()
            }.value
            throw ChatStoreError(.unreachable, "cannot open the SQLite database at \(path)", underlying: error)
        }
        return SQLiteBackend(
            path: path,
            writer: SQLiteConnectionPool([connections[0]]),
            readers: SQLiteConnectionPool(Array(connections.dropFirst())), threads: threads)
    }

    /// WAL is a property of the file: the first opener switches it and it stays. The switch needs the
    /// file to itself, so it is tried without SQLite's busy wait (which would keep a shared lock while
    /// waiting and deadlock with another replica's first transaction) and retried for a while.
    private static func switchToWAL(_ connection: SQLiteConnection, path: String, logger: Logger) async throws {
        _ = try await connection.query("PRAGMA busy_timeout = 0")
        let deadline = ContinuousClock.now + retryWindow
        while true {
            do {
                let mode = try await connection.query("PRAGMA journal_mode = WAL")
                if mode.first?.column("journal_mode")?.string != "wal" {
                    logger.warning("SQLite did not switch to WAL mode", metadata: ["path": "\(path)"])
                }
                return
            } catch let error as SQLiteError where isBusy(error) {
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(Int.random(in: 10...50)))
            }
        }
    }

    func query(_ sql: String, _ binds: [SQLValue]) async throws(ChatStoreError) -> [SQLRow] {
        let pool = Self.isReadOnly(sql) ? readers : writer
        return try await Self.retryingWhileBusy { () async throws(ChatStoreError) -> [SQLRow] in
            try await pool.withConnection { connection throws(ChatStoreError) in
                try await Self.run(sql, binds, on: connection)
            }
        }
    }

    func transaction<T: Sendable>(
        exclusive: Bool, _ body: @Sendable (any SQLExecutor) async throws(ChatStoreError) -> T
    ) async throws(ChatStoreError) -> T {
        // Every transaction here may write, so each takes the write lock up front (IMMEDIATE): a deferred
        // transaction upgrading to a writer could fail at once with SQLITE_BUSY instead of waiting.
        try await Self.retryingWhileBusy { () async throws(ChatStoreError) -> T in
            try await writer.withConnection { connection throws(ChatStoreError) in
                _ = try await Self.run("BEGIN IMMEDIATE", [], on: connection)
                do throws(ChatStoreError) {
                    let result = try await body(SQLiteTransaction(connection: connection))
                    _ = try await Self.run("COMMIT", [], on: connection)
                    return result
                } catch {
                    _ = try? await Self.run("ROLLBACK", [], on: connection)
                    throw error
                }
            }
        }
    }

    /// Runs `attempt` again, after a short random pause, while it fails because SQLite answered busy or
    /// locked, for up to ``retryWindow``; a failed attempt has changed nothing (a statement that fails
    /// busy does nothing, and a transaction was rolled back).
    private static func retryingWhileBusy<T: Sendable>(
        _ attempt: () async throws(ChatStoreError) -> T
    ) async throws(ChatStoreError) -> T {
        let deadline = ContinuousClock.now + retryWindow
        while true {
            do throws(ChatStoreError) {
                return try await attempt()
            } catch {
                guard let cause = error.underlying as? SQLiteError, isBusy(cause), ContinuousClock.now < deadline,
                      !Task.isCancelled else {
                    throw error
                }
                try? await Task.sleep(for: .milliseconds(Int.random(in: 10...100)))
            }
        }
    }

    /// Whether SQLite refused for a lock another connection holds.
    private static func isBusy(_ error: SQLiteError) -> Bool {
        switch error.reason {
        case .busy, .locked, .busyInRecovery, .busyInSnapshot, .busyTimeout, .lockedBySharedCache: true
        default: false
        }
    }

    func run() async {
        // No background work: connections live until shutdown.
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    func shutdown() async {
        let connections = await writer.drain() + readers.drain()
        let threads = self.threads
        // Closed from a task of its own: the caller is usually being cancelled, and the thread pool
        // refuses work from a cancelled task (an unclosed connection asserts when freed).
        await Task {
            for connection in connections {
                try? await connection.close()
            }
            try? await threads.shutdownGracefully()
        }.value
    }

    fileprivate static func run(_ sql: String, _ binds: [SQLValue], on connection: SQLiteConnection) async throws(ChatStoreError) -> [SQLRow] {
        let data = binds.map { value -> SQLiteData in
            switch value {
            case .text(let text): .text(text)
            case .integer(let integer): .integer(numericCast(integer))
            case .double(let double): .float(double)
            case .null: .null
            }
        }
        do {
            let rows = try await connection.query(sqliteSQL(sql), data)
            return rows.map { row in
                var columns: [String: SQLValue] = [:]
                for column in row.columns {
                    switch column.data {
                    case .integer(let integer): columns[column.name] = .integer(Int64(integer))
                    case .float(let double): columns[column.name] = .double(double)
                    case .text(let text): columns[column.name] = .text(text)
                    case .blob(let buffer): columns[column.name] = .text(String(buffer: buffer))
                    case .null: columns[column.name] = .null
                    }
                }
                return SQLRow(columns: columns)
            }
        } catch {
            throw ChatStoreError(.query, "SQLite statement failed: \(error)", underlying: error)
        }
    }

    /// `$1` → `?1`: SQLite's numbered placeholders, so one parameter may appear several times.
    static func sqliteSQL(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count)
        var characters = sql.makeIterator()
        var next = characters.next()
        while let character = next {
            next = characters.next()
            if character == "$", let following = next, following.isASCII, following.isNumber {
                out.append("?")
            } else {
                out.append(character)
            }
        }
        return out
    }

    static func isReadOnly(_ sql: String) -> Bool {
        let head = sql.drop(while: { $0.isWhitespace }).prefix(6).uppercased()
        return head == "SELECT"
    }
}

private struct SQLiteTransaction: SQLExecutor {
    let connection: SQLiteConnection

    func query(_ sql: String, _ binds: [SQLValue]) async throws(ChatStoreError) -> [SQLRow] {
        try await SQLiteBackend.run(sql, binds, on: connection)
    }
}

/// Hands each connection to one task at a time; tasks queue first come, first served.
private actor SQLiteConnectionPool {
    private var idle: [SQLiteConnection]
    private var waiters: [CheckedContinuation<SQLiteConnection, Never>] = []
    private var isShutDown = false

    init(_ connections: [SQLiteConnection]) {
        idle = connections
    }

    func acquire() async -> SQLiteConnection {
        if let connection = idle.popLast() { return connection }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func release(_ connection: SQLiteConnection) {
        if isShutDown {
            // In use while the store shut down: close it now (from a task of its own, as in shutdown()).
            Task { try? await connection.close() }
        } else if waiters.isEmpty {
            idle.append(connection)
        } else {
            waiters.removeFirst().resume(returning: connection)
        }
    }

    nonisolated func withConnection<T: Sendable>(
        _ body: @Sendable (SQLiteConnection) async throws(ChatStoreError) -> T
    ) async throws(ChatStoreError) -> T {
        let connection = await acquire()
        do throws(ChatStoreError) {
            let result = try await body(connection)
            await release(connection)
            return result
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Takes the idle connections for closing; connections in use are closed when released.
    func drain() -> [SQLiteConnection] {
        isShutDown = true
        defer { idle = [] }
        return idle
    }
}

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster for the tests: `initdb` into a temporary directory, started with `pg_ctl`
/// on a free loopback port, stopped and removed afterwards. Uses Debian's `postgresql` package (the
/// Makefile installs it); as root it runs the server as the `postgres` user, since PostgreSQL refuses root.
///
/// `SKIFF_TEST_POSTGRES_URL=postgres://user@host:port/db` uses an existing server instead.
final class PostgresServer: Sendable {
    let host = "127.0.0.1"
    let port: Int
    let user = "skiff"
    private let directory: URL?
    private let runAs: String?

    @TaskLocal static var current: PostgresServer?

    private init(port: Int, directory: URL?, runAs: String?) {
        self.port = port
        self.directory = directory
        self.runAs = runAs
    }

    /// A URL for a new, empty database on this server.
    func makeDatabase() async throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await run(tool("psql"), ["-h", host, "-p", "\(port)", "-U", user, "-d", "postgres", "-q", "-c", "CREATE DATABASE \(name)"], as: nil)
        return "postgres://\(user)@\(host):\(port)/\(name)?sslmode=disable"
    }

    static func start() async throws -> PostgresServer {
        let binaries = try binaryDirectory()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let runAs: String? = geteuid() == 0 ? "postgres" : nil
        if let runAs {
            try FileManager.default.setAttributes([.ownerAccountName: runAs], ofItemAtPath: directory.path)
        }
        let data = directory.appendingPathComponent("data").path
        try await run(
            binaries + "/initdb",
            ["-D", data, "-U", "skiff", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"], as: runAs)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try freePort()
            do {
                try await run(
                    binaries + "/pg_ctl",
                    [
                        "-D", data, "-l", directory.appendingPathComponent("log").path, "-w", "-t", "120", "-o",
                        "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
                        "start",
                    ], as: runAs)
                return PostgresServer(port: port, directory: directory, runAs: runAs)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? PostgresServerError("pg_ctl start failed")
    }

    static func external(_ url: String) throws -> PostgresServer {
        guard let components = URLComponents(string: url), let port = components.port else {
            throw PostgresServerError("SKIFF_TEST_POSTGRES_URL '\(url)' needs a port")
        }
        return PostgresServer(port: port, directory: nil, runAs: nil)
    }

    func stop() async {
        guard let directory else { return }
        if let binaries = try? Self.binaryDirectory() {
            try? await Self.run(
                binaries + "/pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-m", "immediate", "-w", "stop"],
                as: runAs)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private func tool(_ name: String) throws -> String { try Self.binaryDirectory() + "/" + name }

    private func run(_ executable: String, _ arguments: [String], as user: String?) async throws {
        try await Self.run(executable, arguments, as: user)
    }

    /// Debian keeps the server binaries in /usr/lib/postgresql/VERSION/bin; the newest wins.
    static func binaryDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) })
        where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw PostgresServerError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql, or set SKIFF_TEST_POSTGRES_URL")
    }

    /// Runs a command to its end. Spawned with posix_spawn and reaped with a polling `waitpid`, not
    /// Foundation's `Process`, whose monitoring thread starved the test's concurrency pool on 2 cores.
    static func run(_ executable: String, _ arguments: [String], as user: String?) async throws {
        let argv = user.map { ["/usr/sbin/runuser", "-u", $0, "--", executable] + arguments } ?? [executable] + arguments
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-pg-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Output goes to a file, not a pipe: the server that `pg_ctl start` leaves running would hold a
        // pipe open.
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw PostgresServerError("cannot start \(argv[0]): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        let exitCode = (status >> 8) & 0xFF
        guard status & 0x7F == 0, exitCode == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw PostgresServerError("\(argv.joined(separator: " ")) failed (status \(status)): \(text)")
        }
    }

    /// A port nothing listens on now: bind port 0 and read what the kernel chose.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresServerError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw PostgresServerError("bind() failed") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw PostgresServerError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct PostgresServerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Starts one PostgreSQL server for the suite it is attached to and stops it afterwards.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server: PostgresServer
        if let url = ProcessInfo.processInfo.environment["SKIFF_TEST_POSTGRES_URL"] {
            server = try PostgresServer.external(url)
        } else {
            server = try await PostgresServer.start()
        }
        do {
            try await PostgresServer.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension Trait where Self == PostgresServerTrait {
    /// A private PostgreSQL server for the suite, reachable through `PostgresServer.current`.
    static var postgresServer: Self { PostgresServerTrait() }
}

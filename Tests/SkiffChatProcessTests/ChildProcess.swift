import Foundation
import Testing

/// A program of this package's build (`skiff`, `skiff-chat`, `chat-standin`) run as a child process, its
/// standard output and error in a log file. `stop()` ends it; a test that forgets is cleaned up by `deinit`.
final class ChildProcess {
    let name: String
    let process = Process()
    let log: URL

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The build directory that holds the test bundle, and the products built beside it.
    static let binDirectory: URL = {
        var directory = Bundle.main.bundleURL
        while directory.path != "/" {
            if FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("skiff-chat").path) { return directory }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: ".")
    }()

    /// Starts `name` from the build directory (or an absolute path) with `arguments`.
    init(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        self.name = name
        let executable = name.hasPrefix("/") ? URL(fileURLWithPath: name) : Self.binDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw Failure(description: "\(executable.path) is missing: run `swift build --build-tests` first")
        }
        log = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-\(executable.lastPathComponent)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: log)
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Waits until the output has a match for `pattern` and returns its first capture group. The output is read once
    /// more after the deadline, so a wait that a busy machine kept from running past it still sees what was printed.
    func waitFor(_ pattern: String, timeout: Duration = .seconds(300)) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = output
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
                let range = Range(match.range(at: match.numberOfRanges > 1 ? 1 : 0), in: text)
            {
                return String(text[range])
            }
            guard process.isRunning, ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "\(name) did not print /\(pattern)/ within \(timeout); its output:\n\(output.suffix(4000))")
    }

    /// Sends `signal` and waits (at most `timeout`) for the process to end; SIGKILL after that.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: Duration = .seconds(60)) async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        return await waitForExit(timeout: timeout)
    }

    /// Waits (at most `timeout`) for the process to end, SIGKILLs it after that; its exit status.
    func waitForExit(timeout: Duration) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// The three programs the chat tier's process tests start.
enum Programs {
    /// The stand-in upstream on `port` (0: any); returns it and its port.
    static func standIn(port: Int = 0) async throws -> (ChildProcess, Int) {
        let process = try ChildProcess("chat-standin", ["--port", "\(port)"])
        return (process, Int(try await process.waitFor(#"listening on (\d+)"#)) ?? 0)
    }

    /// `skiff-chat` on an ephemeral loopback port with a SQLite database at `database`.
    static func chat(llmURL: String, database: String, extra: [String] = []) async throws -> (ChildProcess, String) {
        let process = try ChildProcess(
            "skiff-chat",
            ["--host", "127.0.0.1", "--port", "0", "--llm-url", llmURL, "--database", "sqlite://" + database] + extra)
        let port = try await process.waitFor(#"http://127\.0\.0\.1:(\d+)/"#)
        return (process, "http://127.0.0.1:\(port)")
    }

    /// `skiff serve` with the default model on one thread, on an ephemeral port; returns its `/v1` URL once ready.
    /// Its KV cache is resident from the start: four sequences of 2 048 tokens by default keep it small.
    static func serve(extra: [String] = ["--ctx", "2048"]) async throws -> (ChildProcess, String) {
        let process = try ChildProcess(
            "skiff", ["serve", "--host", "127.0.0.1", "--port", "0", "--threads", "1", "--max-running", "4"] + extra)
        let port = try await process.waitFor(#"port=(\d+) \[SkiffServer\] listening"#, timeout: .seconds(120))
        _ = try await process.waitFor(#"\[SkiffServer\] ready"#, timeout: .seconds(120))
        return (process, "http://127.0.0.1:\(port)/v1")
    }

    /// A loopback port nothing listens on (bound, then released).
    static func closedPort() throws -> Int {
        let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
            }
        }
        guard bound else { throw ChildProcess.Failure(description: "could not bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A fresh SQLite path in a directory of its own.
    static func databasePath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-chat-process-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("chat.db").path
    }
}

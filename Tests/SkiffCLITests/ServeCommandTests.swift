import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// `skiff serve` as a process: the capacity it exposes is `skiff plan`'s, and SIGTERM ends it with status 0.
@Suite struct ServeCommandTests {
    let cli = CommandLineTests()

    @Test func servedCapacityIsThePlansAndSIGTERMExitsZero() async throws {
        let budget = "1073741824"
        let plan = try cli.skiff(["plan", "--gpu", "cpu", "--kv-cache-bytes", budget, "--context", "8192", "--json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let planned = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])

        let server = try ServeProcess([
            "serve", "--port", "0", "--threads", "1", "--kv-cache-bytes", budget, "--ctx", "8192", "--grace-period", "300",
        ])
        defer { server.kill() }
        let port = try await server.listeningPort()
        // Loading and the warm-up generation: a deadline only for a hang.
        let ready = try await Self.eventually(within: .seconds(120)) { (try? await Self.get(port, "/ready"))?.status == 200 }
        #expect(ready)
        var metrics = try await Self.get(port, "/metrics").body
        func value(_ prefix: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(value("skiff:kv_cache_bytes_per_token{") == (planned["kv_cache_bytes_per_token"] as? Int).map(Double.init))
        #expect(value("skiff:kv_cache_full_context_sequences{") == (planned["max_concurrency"] as? Int).map(Double.init))
        #expect(metrics.contains("context_length=\"8192\""))
        // Whole blocks of 16 tokens within the budget.
        let bytes = try #require(value("skiff:kv_cache_bytes{"))
        let blockBytes = 16 * 23040.0
        #expect(bytes <= Double(budget)! && bytes > Double(budget)! - blockBytes && bytes.truncatingRemainder(dividingBy: blockBytes) == 0)

        // SIGTERM while a request runs: it still gets its whole answer, then the process exits 0. The request
        // is long (256 tokens, seconds even on a quiet machine) so that it is still running when a scrape sees
        // it; should it have ended unseen on a very slow machine, SIGTERM follows all the same.
        let answered = Atomic<Bool>(false)
        let inFlight = Task {
            defer { answered.store(true, ordering: .sequentiallyConsistent) }
            return try await Self.post(port, "/v1/completions", #"{"prompt": "Once upon a time", "max_tokens": 256, "ignore_eos": true}"#)
        }
        #expect(try await Self.eventually {
            metrics = try await Self.get(port, "/metrics").body
            return value("vllm:num_requests_running{") ?? 0 > 0 || answered.load(ordering: .sequentiallyConsistent)
        })
        server.terminate()
        let answer = try await inFlight.value
        #expect(answer.status == 200)
        #expect(answer.body.contains(#""completion_tokens":256"#))
        let status = try await server.exitStatus()
        #expect(status == 0, "\(server.standardError)")
        #expect(server.standardError.contains("stopped"))
    }

    /// Asks `condition` every 20 ms until it holds (true) or `deadline` has passed (false): a deadline that only
    /// catches a hang.
    static func eventually(within deadline: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws -> Bool {
        let end = ContinuousClock.now + deadline
        while true {
            if try await condition() { return true }
            guard ContinuousClock.now < end else { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func post(_ port: Int, _ path: String, _ json: String) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(json.utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    static func get(_ port: Int, _ path: String) async throws -> (status: Int, body: String) {
        let url = try #require(URL(string: "http://127.0.0.1:\(port)\(path)"))
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}

/// A `skiff` process whose standard error is collected as it runs.
final class ServeProcess: Sendable {
    private final class Collected: Sendable {
        let text = Mutex("")
    }

    private let process: Process
    private let errors = Collected()

    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        self.process = process
        let errors = self.errors
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = String(decoding: handle.availableData, as: UTF8.self)
            errors.text.withLock { $0 += chunk }
        }
        try process.run()
    }

    /// What the process wrote to standard error so far.
    var standardError: String { errors.text.withLock { $0 } }

    /// The port from the server's "listening" log line (waits at most 300 s: a deadline only for a hang, on a machine
    /// whose cores other suites keep busy).
    func listeningPort() async throws -> Int {
        for _ in 0 ..< 3000 {
            let text = standardError
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening") && $0.contains("port=") }),
               let range = line.range(of: #"port=(\d+)"#, options: .regularExpression),
               let port = Int(line[range].dropFirst("port=".count)) {
                return port
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ServeProcessError.noPort(standardError)
    }

    func terminate() { process.terminate() }

    func kill() { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) } }

    /// Waits (at most 60 s) for the process to end and returns its exit status.
    func exitStatus() async throws -> Int32 {
        for _ in 0 ..< 600 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        guard !process.isRunning else { throw ServeProcessError.stillRunning }
        return process.terminationStatus
    }
}

enum ServeProcessError: Error {
    case noPort(String)
    case stillRunning
}

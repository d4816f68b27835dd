import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import ServiceLifecycle
import SkiffEngine
import SkiffModelFile
import SkiffModels
import Testing
@testable import SkiffServer

/// The real default model, loaded once for the whole suite.
enum TestModel {
    static let path: String = {
        let env = ProcessInfo.processInfo.environment
        if let path = env["SKIFF_TEST_MODEL"] { return path }
        let directory = env["SKIFF_MODEL_DIR"] ?? (NSHomeDirectory() + "/.cache/skiff/models")
        return directory + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }()

    static let model: LoadedModel? = try? LoadedModel(path: path)

    /// The model, or a recorded failure saying how to get it.
    static func require() throws -> LoadedModel {
        guard let model else {
            Issue.record("The test model is missing at \(path); run `skiff pull SmolLM2-135M-Instruct` or set SKIFF_TEST_MODEL.")
            throw CancellationError()
        }
        return model
    }

    static let contextLength = 1024

    /// The device the suite's engines compute on: `$SKIFF_TEST_DEVICE` (`make test` runs the suite again with
    /// `vulkan`, on lavapipe), else the CPU.
    static let device: ComputeDevice = {
        guard let name = ProcessInfo.processInfo.environment["SKIFF_TEST_DEVICE"] else { return .cpu }
        do {
            return try ComputeDevice.named(name)
        } catch {
            fatalError("SKIFF_TEST_DEVICE=\(name): \(error)")
        }
    }()

    /// How long a request may take before a test calls it hung: generous on the CPU, and ten times that on a
    /// software Vulkan device (lavapipe decodes about 2 tokens a second, shared by every test's requests).
    static let requestTimeout: Int64 = device == .cpu ? 120 : 1200
    /// The suite's HTTP client: `HTTPClient.shared`'s settings, but waiting `requestTimeout` for a connection and for
    /// a response's bytes (the shared client gives up after 90 s, sooner than a software device answers a long
    /// completion; a connection from its pool can take that long too while 16 streams hold the others).
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.timeout = .init(connect: .seconds(requestTimeout), read: .seconds(requestTimeout))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
    /// Whether the suite runs on the CPU: tests of the HTTP layer alone (`.httpLayer`) run only then.
    static var onCPU: Bool { device == .cpu }

    /// How long `eventually` waits by default for a state that needs a request or two to finish first.
    static let settleDeadline: Duration = .seconds(device == .cpu ? 60 : 600)

    /// An engine for tests that share it (the engine's gauges then include other tests' requests).
    static let sharedEngine: InferenceEngine? = model.flatMap { try? makeEngine($0) }

    static func makeEngine(_ model: LoadedModel, maxRunning: Int = 16, maxWaiting: Int = 64,
                           contextLength: Int = contextLength) throws -> InferenceEngine {
        var configuration = EngineConfiguration(
            threads: 2, maxStepTokens: 256, maxRunning: maxRunning, maxWaiting: maxWaiting, contextLength: contextLength,
            cacheBlocks: maxRunning * contextLength / 16 + 64, blockSize: 16)
        configuration.device = device
        return try InferenceEngine(model: model, configuration: configuration)
    }

    static func engine() throws -> InferenceEngine {
        _ = try require()
        guard let sharedEngine else { throw EngineError(.model, "the shared test engine did not start") }
        return sharedEngine
    }
}

extension Trait where Self == ConditionTrait {
    /// Marks a test of the HTTP layer alone (request checks, refusals, keys, metric names, the fuzz): its outcome does
    /// not depend on where the engine computes, so the device pass (`SKIFF_TEST_DEVICE`) leaves it to the CPU pass.
    static var httpLayer: Self {
        cpuPassOnly("checks the HTTP layer, which does not depend on the device; the CPU pass runs it")
    }

    /// Marks a test that the device pass leaves to the CPU pass, for the reason given.
    static func cpuPassOnly(_ reason: Comment) -> Self {
        .enabled(if: TestModel.onCPU, reason)
    }
}

/// A live server on an ephemeral port of 127.0.0.1, and an HTTP client for it.
struct TestServer {
    let port: Int
    let group: ServiceGroup
    /// Ends when the server has stopped (its service group returned or threw).
    let stopped: AsyncStream<Void>
    let client = TestModel.client

    static let servedName = "smollm2-test"

    /// Runs `body` against a new server over `engine`, then shuts the server down gracefully.
    static func with(engine: InferenceEngine? = nil, configure: (inout ServerConfiguration) -> Void = { _ in },
                     _ body: (TestServer) async throws -> Void) async throws {
        try await with(source: .running(engine ?? TestModel.engine()), configure: configure, body)
    }

    /// Runs `body` against a new server whose engine comes from `source`; with `waitingUntilReady` false,
    /// `body` starts as soon as the server listens.
    static func with(source: InferenceServer.EngineSource, waitingUntilReady: Bool = true,
                     configure: (inout ServerConfiguration) -> Void = { _ in },
                     _ body: (TestServer) async throws -> Void) async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, servedModelName: servedName, version: "test")
        configure(&configuration)
        var logger = Logger(label: "test.server")
        logger.logLevel = .warning
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let (stopped, stoppedContinuation) = AsyncStream<Void>.makeStream()
        let server = InferenceServer(engine: source, configuration: configuration, logger: logger) { port in
            portContinuation.yield(port)
        }
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // A server that stops before it listens ends the wait for its port.
                defer {
                    portContinuation.finish()
                    stoppedContinuation.finish()
                }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return try await tasks.waitForAll() }
            let testServer = TestServer(port: port, group: group, stopped: stopped)
            if waitingUntilReady { try await testServer.waitUntilReady() }
            do {
                try await body(testServer)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Waits for `/ready` to answer 200 (the model loaded and warmed up); records an issue after 120 s.
    func waitUntilReady() async throws {
        if try await !eventually(within: .seconds(TestModel.requestTimeout), { try await get("/ready").status == 200 }) {
            Issue.record("the server did not become ready within 120 s")
        }
    }

    struct Reply {
        var status: Int
        var headers: [(String, String)]
        var body: String

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The `error` object of an OpenAI error body.
        var error: [String: Any]? { json["error"] as? [String: Any] }
    }

    /// Whether a TCP connection to the server's port is refused now (one attempt; the HTTP client would
    /// keep retrying a refused connection until its deadline).
    func refusesConnections() -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result != 0 && errno == ECONNREFUSED
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Reply {
        try await send("GET", path, body: nil, headers: headers)
    }

    func post(_ path: String, _ json: [String: Any], headers: [(String, String)] = []) async throws -> Reply {
        try await send("POST", path, body: try JSONSerialization.data(withJSONObject: json), headers: headers)
    }

    func post(_ path: String, raw: String, headers: [(String, String)] = []) async throws -> Reply {
        try await send("POST", path, body: Data(raw.utf8), headers: headers)
    }

    func send(_ method: String, _ path: String, body: Data?, headers: [(String, String)]) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .RAW(value: method)
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(TestModel.requestTimeout))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                     body: String(buffer: buffer))
    }

    /// Sends a streaming request and returns the response as it arrives, for tests that stop reading.
    func openStream(_ path: String, _ json: [String: Any]) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        return try await client.execute(request, timeout: .seconds(TestModel.requestTimeout))
    }

    /// The value of an unlabelled-except-model sample in the `/metrics` exposition.
    func metric(_ name: String, labels: String = "") async throws -> Double? {
        let text = try await get("/metrics").body
        let prefix = "\(name){model_name=\"\(Self.servedName)\"\(labels.isEmpty ? "" : "," + labels)} "
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return Double(line.dropFirst(prefix.count))
    }
}

/// Asks `condition` every 20 ms until it holds (true), or until `deadline` has passed (false). Tests wait
/// for what they mean to see this way, never for a fixed time; the deadline only catches a hang, so it is
/// generous: 60 s by default (a busy machine may take seconds per generation step).
func eventually(within deadline: Duration = TestModel.settleDeadline, _ condition: () async throws -> Bool) async throws -> Bool {
    let end = ContinuousClock.now + deadline
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < end else { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Server-sent events parsed strictly: every event is `data: <payload>\n\n`.
struct EventStream {
    var payloads: [String] = []
    var wellFramed = true

    init(_ body: String) {
        var rest = Substring(body)
        while !rest.isEmpty {
            guard rest.hasPrefix("data: "), let end = rest.range(of: "\n\n") else {
                wellFramed = false
                return
            }
            payloads.append(String(rest[rest.index(rest.startIndex, offsetBy: 6) ..< end.lowerBound]))
            rest = rest[end.upperBound...]
        }
    }

    /// The JSON chunks (all payloads but `[DONE]`).
    var chunks: [[String: Any]] {
        payloads.filter { $0 != "[DONE]" }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
}

extension Dictionary where Key == String, Value == Any {
    var choice: [String: Any]? { (self["choices"] as? [[String: Any]])?.first }
    var usage: [String: Any]? { self["usage"] as? [String: Any] }
}

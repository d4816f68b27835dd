import Hummingbird
import Logging
import ServiceLifecycle
import SkiffEngine

/// `skiff serve`: an OpenAI-compatible HTTP service over an `InferenceEngine`, with probes and
/// Prometheus metrics, as a `Service` for a `ServiceGroup`.
///
/// Running it starts the HTTP server and a warm-up generation; `/ready` turns 200 once the warm-up
/// passed. On graceful shutdown (SIGTERM, when the enclosing group is configured for it) the server
/// drains: `/ready` turns 503 at once, new API requests get 503, in-flight requests finish within the
/// configured grace period (after which the engine is shut down to end them), then the HTTP server
/// stops and `run()` returns. It does not shut the engine down otherwise; the caller owns it.
public struct InferenceServer: Service {
    private let engine: InferenceEngine
    private let configuration: ServerConfiguration
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    /// Creates a server for `engine`. `onListening` is called with the bound port once the server
    /// accepts connections (useful with port 0).
    public init(engine: InferenceEngine, configuration: ServerConfiguration, logger: Logger,
                onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) {
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    /// Serves in a `ServiceGroup` of its own that shuts down gracefully on SIGTERM and SIGINT; returns
    /// once drained.
    public func runService() async throws {
        let group = ServiceGroup(configuration: .init(services: [self], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }

    /// Serves until a graceful shutdown or cancellation.
    public func run() async throws {
        let state = ServerState()
        let metrics = ServerMetrics(modelName: configuration.servedModelName)
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: RequestGate(state: state, keys: APIKeys(configuration.apiKeys)))
        Routes(engine: engine, configuration: configuration, metrics: metrics, state: state).register(on: router)

        let configuredPort = configuration.port
        let onListening = self.onListening
        let logger = self.logger
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuredPort
                logger.info("listening", metadata: ["host": "\(channel.localAddress?.ipAddress ?? "?")", "port": "\(port)"])
                await onListening(port)
            },
            logger: logger
        )
        let lifecycle = ServerLifecycle(engine: engine, state: state, metrics: metrics,
                                        gracePeriod: configuration.gracePeriod, logger: logger)
        // Graceful shutdown runs in reverse order: the lifecycle drains first, then the HTTP server stops.
        let group = ServiceGroup(configuration: .init(services: [app, lifecycle], logger: logger))
        try await group.run()
    }
}

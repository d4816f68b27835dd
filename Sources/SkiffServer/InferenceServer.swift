import Hummingbird
import Logging
import ServiceLifecycle
import SkiffEngine

/// `skiff serve`: an OpenAI-compatible HTTP service over an `InferenceEngine`, with probes and
/// Prometheus metrics, as a `Service` for a `ServiceGroup`.
///
/// Running it starts the HTTP server at once (`/health` answers while the model loads), then loads the
/// engine if asked to, runs a warm-up generation, and turns `/ready` 200. On graceful shutdown (SIGTERM,
/// when the enclosing group is configured for it) the server drains: `/ready` turns 503 at once, new API
/// requests get 503, in-flight requests finish within the configured grace period (after which the
/// engine is shut down to end them), then the HTTP server stops and `run()` returns.
public struct InferenceServer: Service {
    /// Where the engine comes from.
    public enum EngineSource: Sendable {
        /// An engine the caller made and owns (the server never shuts it down, except to end requests
        /// still running when a drain's grace period is over).
        case running(InferenceEngine)
        /// A loader run once the HTTP server listens (on a thread of its own, since loading blocks); the
        /// server owns the engine and shuts it down when it stops. A loader that throws stops the server.
        case load(@Sendable () throws -> InferenceEngine)
    }

    private let source: EngineSource
    private let configuration: ServerConfiguration
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    /// Creates a server. `onListening` is called with the bound port once the server accepts
    /// connections (useful with port 0).
    public init(engine source: EngineSource, configuration: ServerConfiguration, logger: Logger,
                onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) {
        self.source = source
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
        Routes.register(on: router, state: state, configuration: configuration, metrics: metrics)

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
        let lifecycle = ServerLifecycle(source: source, configuration: configuration, state: state, metrics: metrics,
                                        logger: logger)
        // Graceful shutdown runs in reverse order: the lifecycle drains first, then the HTTP server stops. A
        // model that fails to load stops the HTTP server gracefully too, and its error ends `run()`.
        let group = ServiceGroup(configuration: .init(services: [
            .init(service: app),
            .init(service: lifecycle, failureTerminationBehavior: .gracefullyShutdownGroup),
        ], logger: logger))
        try await group.run()
    }
}

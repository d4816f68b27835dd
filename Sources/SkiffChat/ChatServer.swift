import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import Mustache
import ServiceLifecycle
import SkiffChatStore
import SkiffChatUpstream

/// The chat tier: opens the store (migrating it), builds the web app and runs both until SIGTERM, then
/// drains (readiness fails at once, answers in flight get the grace period to finish, the rest are
/// stored as interrupted).
public struct ChatServer: Sendable {
    public let configuration: ChatConfiguration
    private let logger: Logger
    private let onServerRunning: @Sendable (Int) async -> Void

    /// - Parameter onServerRunning: called with the bound port once the server listens.
    public init(configuration: ChatConfiguration, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onServerRunning = onServerRunning
    }

    /// Runs until SIGTERM/SIGINT (or the task is cancelled).
    public func run() async throws {
        if configuration.auth == .none, !["127.0.0.1", "::1", "localhost"].contains(configuration.host) {
            logger.warning(
                "--auth none on a non-loopback address: anyone who reaches this port uses the chat as the one local user",
                metadata: ["host": "\(configuration.host)"])
        }
        let store = try await ChatStore.open(configuration.database, logger: logger)
        let upstream = UpstreamClient(
            configuration: .init(
                baseURL: configuration.llmURL, apiKey: configuration.llmAPIKey, idleTimeout: configuration.upstreamIdleTimeout))
        let templates = try await Self.loadTemplates()
        let state = ChatState(configuration: configuration, store: store, upstream: upstream, templates: templates, logger: logger)
        let app = ChatApplication.make(state: state, onServerRunning: onServerRunning, logger: logger)
        let drain = DrainService(state: state, gracePeriod: configuration.gracePeriod, logger: logger)
        let storeService = StoreService(store: store, logger: logger)
        let monitor = ModelServiceMonitor(state: state, interval: .seconds(5))
        let purge = SessionPurge(store: store, interval: .seconds(3600), logger: logger)
        let trim = IdleMemoryTrim(
            streams: state.streams, interval: .seconds(10), window: UpstreamClient.pooledConnectionIdleTimeout + .seconds(30))
        // Started in order and shut down in reverse, each after the one after it has ended: the drain
        // first (readiness fails, answers finish), then the app, then the store, which the answers need.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: storeService),
                    .init(service: monitor),
                    .init(service: purge),
                    .init(service: trim),
                    .init(service: app),
                    .init(service: drain),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            try? await upstream.shutdown()
            throw error
        }
        try? await upstream.shutdown()
    }

    /// The templates shipped in the module's resources.
    static func loadTemplates() async throws -> MustacheLibrary {
        guard let directory = Bundle.module.resourceURL?.appendingPathComponent("templates"),
            FileManager.default.fileExists(atPath: directory.path)
        else {
            throw ChatConfigurationError(
                "the chat templates are missing: the directory Skiff_SkiffChat.resources must sit beside the skiff-chat binary")
        }
        return try await MustacheLibrary(directory: directory.path)
    }
}

/// Runs the store and migrates it before the app starts taking requests.
struct StoreService: Service {
    let store: ChatStore
    let logger: Logger

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await cancelWhenGracefulShutdown { await store.run() } }
            try await store.migrate()
            logger.info("database ready", metadata: ["database": "\(store.url)"])
            // Keep running until shut down; `store.run()` ends on graceful shutdown or cancellation.
            try await group.next()
        }
    }
}

/// Checks the model service every `interval` (each check bounded to 2 s), so `/ready` answers at once with
/// the last result instead of waiting on a service that is down or blackholes connections.
struct ModelServiceMonitor: Service {
    let state: ChatState
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await state.checkModelService()
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// Deletes expired sessions at start and every `interval` (any replica may; deleting twice is harmless).
struct SessionPurge: Service {
    let store: ChatStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let deleted = try await store.deleteExpiredSessions()
                    if deleted > 0 { logger.info("expired sessions deleted", metadata: ["sessions": "\(deleted)"]) }
                } catch {
                    logger.warning("could not delete expired sessions", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// Gives the heap's free pages back to the system while no answer streams, on each tick of `interval`
/// until `window` has passed since the last answer ended. glibc's allocator keeps what a burst of answers
/// freed, so without this a replica's memory stays at its peak long after the load; the window covers
/// what is freed later than the answers, when the upstream pool closes the connections they left idle.
/// Measured after a minute of 200 open streams (38.7 MiB idle before the load): 61.8 MiB settled without
/// trimming, 52.5 MiB with one trim 10 s after the last answer, 47.5 MiB with trims through the window.
struct IdleMemoryTrim: Service {
    let streams: StreamRegistry
    let interval: Duration
    let window: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var ended = 0
            var lastEnd: ContinuousClock.Instant?
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if streams.ended != ended {
                    ended = streams.ended
                    lastEnd = clock.now
                }
                guard streams.count == 0, let lastEnd, clock.now - lastEnd <= window else { continue }
                _ = Self.mallocTrim?(0)
            }
        }
    }

    /// glibc's `malloc_trim`, looked up at run time (malloc.h is not in Swift's Glibc module); nil elsewhere.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()
}

/// On SIGTERM: readiness fails at once; answers in flight get the grace period, then the service group
/// is cancelled, which stores what remains as interrupted.
struct DrainService: Service {
    let state: ChatState
    let gracePeriod: Duration
    let logger: Logger

    func run() async throws {
        try await gracefulShutdown()
        state.startDraining()
        let inFlight = state.streams.count
        logger.info("draining", metadata: ["answers_in_flight": "\(inFlight)", "grace_period": "\(gracePeriod)"])
        // Wait until no answer is left; when the grace period ends first, cut the rest off (they are stored
        // as interrupted) and wait for them to end. The waiting ignores cancellation, so the timer does the
        // cutting rather than a race the group would then wait out forever.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Ends early when every answer ended (or this service is cancelled: then cut off at once).
                try? await Task.sleep(for: gracePeriod)
                let left = state.streams.count
                guard left > 0 else { return }
                logger.warning("grace period over; storing unfinished answers as interrupted", metadata: ["answers": "\(left)"])
                state.streams.cutOff()
            }
            await state.streams.waitUntilIdle()
            group.cancelAll()
        }
    }
}

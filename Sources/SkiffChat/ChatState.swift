import Foundation
import Logging
import Mustache
import SkiffChatStore
import SkiffChatUpstream
import Synchronization

/// What every route shares: the store, the model service client, templates, metrics and whether the
/// replica is draining. Holds no user data: that lives in the store.
final class ChatState: Sendable {
    let configuration: ChatConfiguration
    let store: ChatStore
    let upstream: UpstreamClient
    let metrics = ChatMetrics()
    let templates: MustacheLibrary
    let logger: Logger
    private let drainingFlag = Atomic<Bool>(false)
    private let modelCache = Mutex<(models: [ServedModel], fetched: ContinuousClock.Instant)?>(nil)
    private let modelServiceState = Mutex<String>("unknown")
    /// Answers streaming now, so a drain can wait for them.
    let streams = StreamRegistry()

    init(configuration: ChatConfiguration, store: ChatStore, upstream: UpstreamClient, templates: MustacheLibrary, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.upstream = upstream
        self.templates = templates
        self.logger = logger
    }

    /// True from the moment SIGTERM arrives: `/ready` fails so no new traffic is routed here.
    var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }

    func startDraining() { drainingFlag.store(true, ordering: .relaxed) }

    /// The model service's models, remembered for 30 s (they change only when the service restarts).
    func servedModels() async throws(UpstreamError) -> [ServedModel] {
        let now = ContinuousClock.now
        if let cached = modelCache.withLock({ $0 }), now - cached.fetched < .seconds(30) { return cached.models }
        let models = try await upstream.models()
        modelCache.withLock { $0 = (models, now) }
        return models
    }

    /// The ids of the model service's models.
    func models() async throws(UpstreamError) -> [String] {
        try await servedModels().map(\.id)
    }

    /// The model service's state at its last check: `ok`, an `UpstreamError.Kind` (`unreachable`, `busy`, ...),
    /// or `unknown` before the first check has ended. `/ready` reports it without waiting for the service.
    var modelServiceStatus: String { modelServiceState.withLock { $0 } }

    /// Asks the model service for its models now (at most `timeout`), remembering the list and the outcome.
    func checkModelService(timeout: Duration = .seconds(2)) async {
        let status: String
        do {
            let models = try await upstream.models(timeout: timeout)
            modelCache.withLock { $0 = (models, ContinuousClock.now) }
            status = "ok"
        } catch {
            status = error.kind.rawValue
        }
        modelServiceState.withLock { $0 = status }
    }

    /// The model for a conversation: its own setting, else the service's first model; with its context
    /// length where the service states it.
    func model(for conversation: Conversation) async throws(UpstreamError) -> ServedModel {
        if let id = conversation.settings.model, !id.isEmpty {
            // The list only adds the context length: without it the answer is still asked for.
            return (try? await servedModels())?.first { $0.id == id } ?? ServedModel(id: id)
        }
        guard let first = try await servedModels().first else {
            throw UpstreamError(.rejected, "The model service serves no model.")
        }
        return first
    }
}

/// Counts answers in flight, lets a drain wait until none is left and, when the grace period is over,
/// tells the ones left to stop.
final class StreamRegistry: Sendable {
    private struct State {
        var count = 0
        var ended = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var cutOff = false
        var cutOffWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    func begin() { state.withLock { $0.count += 1 } }

    func end() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.count -= 1
            state.ended += 1
            guard state.count == 0 else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var count: Int { state.withLock { $0.count } }

    /// Answers ended since start.
    var ended: Int { state.withLock { $0.ended } }

    /// Returns when no answer is streaming.
    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                if state.count == 0 { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Tells every answer still streaming to stop now.
    func cutOff() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.cutOff = true
            defer { state.cutOffWaiters = [:] }
            return Array(state.cutOffWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when ``cutOff()`` is called or the task is cancelled.
    func waitForCutOff() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.cutOff || Task.isCancelled { return true }
                    state.cutOffWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.cutOffWaiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}

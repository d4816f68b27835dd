import Foundation
import Logging
import ServiceLifecycle
import SkiffEngine

/// Model loading, warm-up, readiness and drain of a server, as a `Service` placed after the HTTP server
/// in its group so that a graceful shutdown reaches it first.
struct ServerLifecycle: Service {
    let source: InferenceServer.EngineSource
    let configuration: ServerConfiguration
    let state: ServerState
    let metrics: ServerMetrics
    let logger: Logger

    func run() async throws {
        let engine: InferenceEngine
        switch source {
        case .running(let running):
            engine = running
        case .load(let load):
            engine = try await Self.offPool(load)
        }
        guard case .load = source else { return try await serve(engine) }
        do {
            try await serve(engine)
        } catch {
            try? await Self.offPool { engine.shutdown() }
            throw error
        }
        try await Self.offPool { engine.shutdown() }
    }

    /// Warms the engine up, reports ready, and drains on graceful shutdown.
    private func serve(_ engine: InferenceEngine) async throws {
        state.attach(Routes(engine: engine, configuration: configuration, metrics: metrics))
        try await warmUp(engine)
        state.markReady()
        logger.info("ready")
        // Until shutdown, move the engine's step sizes into the histogram so none are dropped between scrapes.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    metrics.observeSteps(engine.drainSteps())
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        guard !Task.isCancelled else { return }
        await drain(engine)
    }

    /// Runs blocking work on a thread of its own, keeping the cooperative pool free to answer probes.
    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<T, any Error>) in
            Thread.detachNewThread { done.resume(with: Result { try work() }) }
        }
    }

    /// One one-token generation: proves the model runs before the server reports ready.
    private func warmUp(_ engine: InferenceEngine) async throws {
        let tokenizer = engine.model.tokenizer
        var prompt = tokenizer.encode("Hello", addSpecial: true, parseSpecial: false)
        if prompt.isEmpty { prompt = [tokenizer.bos ?? 0] }
        let start = ContinuousClock.now
        for try await event in engine.generate(GenerationRequest(prompt: prompt, maxTokens: 1)) {
            if case .finished = event { break }
        }
        logger.info("warm-up passed", metadata: ["duration_ms": "\(Int((ContinuousClock.now - start).secondsValue * 1000))"])
    }

    /// Refuses new requests and waits for in-flight ones, at most the grace period; then ends what is left.
    private func drain(_ engine: InferenceEngine) async {
        state.beginDraining()
        let gracePeriod = configuration.gracePeriod
        logger.info("draining", metadata: ["in_flight": "\(state.inFlight)", "grace_seconds": "\(gracePeriod.secondsValue)"])
        let deadline = ContinuousClock.now + gracePeriod
        while state.inFlight > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = state.inFlight
        if left > 0 {
            logger.warning("grace period over; ending in-flight requests", metadata: ["in_flight": "\(left)"])
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                // `shutdown()` blocks until the engine thread finishes its step; keep it off the cooperative pool.
                Thread.detachNewThread {
                    engine.shutdown()
                    done.resume()
                }
            }
            let settle = ContinuousClock.now + .seconds(2)
            while state.inFlight > 0, ContinuousClock.now < settle {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        logger.info("drained")
    }
}

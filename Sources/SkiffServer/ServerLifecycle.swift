import Foundation
import Logging
import ServiceLifecycle
import SkiffEngine

/// Warm-up, readiness and drain of a server, as a `Service` placed after the HTTP server in its group
/// so that a graceful shutdown reaches it first.
struct ServerLifecycle: Service {
    let engine: InferenceEngine
    let state: ServerState
    let metrics: ServerMetrics
    let gracePeriod: Duration
    let logger: Logger

    func run() async throws {
        try await warmUp()
        state.markReady()
        logger.info("ready")
        // Until shutdown, move the engine's step sizes into the histogram so none are dropped between scrapes.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    metrics.observeSteps(engine.drainStepTokens())
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        guard !Task.isCancelled else { return }
        await drain()
    }

    /// One one-token generation: proves the model runs before the server reports ready.
    private func warmUp() async throws {
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
    private func drain() async {
        state.beginDraining()
        logger.info("draining", metadata: ["in_flight": "\(state.inFlight)", "grace_seconds": "\(gracePeriod.secondsValue)"])
        let deadline = ContinuousClock.now + gracePeriod
        while state.inFlight > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = state.inFlight
        if left > 0 {
            logger.warning("grace period over; ending in-flight requests", metadata: ["in_flight": "\(left)"])
            let engine = self.engine
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

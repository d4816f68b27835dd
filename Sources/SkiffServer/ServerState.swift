import Synchronization

/// The server's lifecycle as probes and the request gate see it: loading, warming up, ready, draining;
/// the loaded model's routes; and how many requests are in flight, so a graceful shutdown knows when
/// they have all finished.
final class ServerState: Sendable {
    enum Phase: Sendable, Equatable {
        /// The HTTP server answers probes while the model loads.
        case loading
        /// The model is loaded but the warm-up generation has not passed yet.
        case warmingUp
        /// Serving.
        case ready
        /// A graceful shutdown began: new requests are refused, in-flight ones finish.
        case draining
    }

    private struct Value {
        var phase = Phase.loading
        var inFlight = 0
        var routes: Routes?
    }

    private let value = Mutex(Value())

    var phase: Phase { value.withLock { $0.phase } }
    var inFlight: Int { value.withLock { $0.inFlight } }

    /// The model-backed endpoints, or 503 `model_loading` while the model loads.
    func routes() throws(APIError) -> Routes {
        guard let routes = value.withLock({ $0.routes }) else { throw APIError.modelLoading }
        return routes
    }

    /// Installs the loaded model's routes; the phase moves on to warming up unless a shutdown began.
    func attach(_ routes: Routes) {
        value.withLock { v in
            v.routes = routes
            if v.phase == .loading { v.phase = .warmingUp }
        }
    }

    /// Marks the warm-up as passed, unless a shutdown already began.
    func markReady() {
        value.withLock { if $0.phase == .warmingUp { $0.phase = .ready } }
    }

    func beginDraining() { value.withLock { $0.phase = .draining } }

    /// Admits a request unless the server is draining. Each admitted request must be `release`d.
    func admit() -> Bool {
        value.withLock { v in
            guard v.phase != .draining else { return false }
            v.inFlight += 1
            return true
        }
    }

    func release() { value.withLock { $0.inFlight -= 1 } }
}

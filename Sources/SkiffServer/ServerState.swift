import Synchronization

/// The server's lifecycle as probes and the request gate see it: warming up, ready, draining; and
/// how many requests are in flight, so a graceful shutdown knows when they have all finished.
final class ServerState: Sendable {
    enum Phase: Sendable, Equatable {
        /// The model is loaded but the warm-up generation has not passed yet.
        case warmingUp
        /// Serving.
        case ready
        /// A graceful shutdown began: new requests are refused, in-flight ones finish.
        case draining
    }

    private struct Value {
        var phase = Phase.warmingUp
        var inFlight = 0
    }

    private let value = Mutex(Value())

    var phase: Phase { value.withLock { $0.phase } }
    var inFlight: Int { value.withLock { $0.inFlight } }

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

import Foundation

/// When the requests of a run are sent.
public enum LoadPattern: Sendable, Equatable {
    /// A fixed number of workers, each sending its next request as soon as its previous one
    /// finishes: never more than this many requests in flight.
    case concurrency(Int)
    /// Open-loop Poisson arrivals: requests go out at `requestsPerSecond` on average, with
    /// exponentially distributed gaps drawn from a generator seeded with `seed`, whether or not
    /// earlier requests have finished. The same seed gives the same schedule.
    case poisson(requestsPerSecond: Double, seed: UInt64)

    /// When each of `count` requests is sent, as offsets from the start of the run (the first at
    /// zero), for Poisson arrivals; nil for fixed concurrency, where a request goes when a worker
    /// is free.
    public func arrivalOffsets(count: Int) -> [Duration]? {
        guard case .poisson(let rate, let seed) = self else { return nil }
        var generator = SeededGenerator(seed: seed)
        var seconds = 0.0
        return (0..<max(count, 0)).map { index in
            if index > 0 {
                seconds += -log(1 - generator.nextUnitInterval()) / rate
            }
            return .nanoseconds(Int64((seconds * 1e9).rounded()))
        }
    }
}

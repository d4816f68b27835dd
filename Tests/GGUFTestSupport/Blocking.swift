import Foundation

/// Runs `body`, which blocks for long (forward passes on a software Vulkan device take tens of seconds), on a
/// thread of its own instead of one of the Swift concurrency pool's few threads, which other suites' async
/// tests (servers draining, clients polling) need meanwhile.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

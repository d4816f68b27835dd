import CSkiffKernels
import Foundation

/// The persistent worker threads every kernel of one model runs on.
///
/// A pool runs one kernel at a time; it belongs to the single thread that drives a model's forward pass,
/// which is why it is not `Sendable`.
public final class ComputePool {
    package let pool: OpaquePointer

    /// The number of threads, the calling thread included.
    public let threadCount: Int

    /// Starts `threadCount` threads (the caller counts as one).
    public init(threadCount: Int) throws(ModelError) {
        guard let pool = skiff_pool_create(Int32(max(1, threadCount))) else {
            throw ModelError(.outOfMemory, "could not start \(threadCount) compute threads")
        }
        self.pool = pool
        self.threadCount = Int(skiff_pool_thread_count(pool))
    }

    deinit { skiff_pool_destroy(pool) }

    /// The default thread count: one per CPU this process may use, which inside a container with a CPU
    /// limit (cgroup `cpu.max`, a Kubernetes pod's `limits.cpu`) is the limit rounded up, not the node's cores.
    public static var defaultThreadCount: Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let limit = (try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8)).flatMap(cpuLimit(fromCPUMax:))
        return max(1, min(cores, limit ?? cores))
    }

    /// The CPUs a cgroup v2 `cpu.max` text ("quota period", or "max period" for none) allows, rounded up.
    static func cpuLimit(fromCPUMax text: String) -> Int? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let quota = Int(fields[0]), let period = Int(fields[1]), quota > 0, period > 0 else {
            return nil
        }
        return (quota + period - 1) / period
    }

    /// The instruction set the kernels use on this machine, for logs and benchmarks.
    public static var instructionSet: String {
        switch skiff_active_isa() {
        case SKIFF_ISA_AVX512_VNNI: "avx512-vnni"
        case SKIFF_ISA_AVX2: "avx2"
        default: "portable"
        }
    }
}

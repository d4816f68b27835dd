#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Zeroed memory reserved from the kernel for a cache: it becomes resident as it is written, or at once when
/// asked (`resident`, Linux), so the process holds from the start what it will hold under full load and a
/// memory limit too small shows at start.
final class ReservedMemory {
    /// The first byte.
    let base: UnsafeMutableRawPointer
    /// Bytes reserved.
    let byteCount: Int

    /// Reserves `byteCount` bytes (at least one page) for `purpose` ("the KV cache"), named in the error.
    init(byteCount: Int, resident: Bool, purpose: String) throws(ModelError) {
        var flags = MAP_PRIVATE | MAP_ANONYMOUS
        #if os(Linux)
        if resident { flags |= MAP_POPULATE }
        #endif
        let length = max(byteCount, 1)
        guard let memory = mmap(nil, length, PROT_READ | PROT_WRITE, flags, -1, 0), memory != MAP_FAILED else {
            throw ModelError(.outOfMemory, "could not reserve \(byteCount / (1 << 20)) MiB for \(purpose); lower its size")
        }
        base = memory
        self.byteCount = length
    }

    deinit { munmap(base, byteCount) }
}

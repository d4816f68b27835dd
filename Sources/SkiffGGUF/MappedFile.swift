#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file.
///
/// The mapping is created once, never written through, and unmapped when the last reference goes away;
/// every access is a read of immutable memory, which is why sharing it across threads is safe.
public final class MappedFile: @unchecked Sendable {
    /// The first byte of the mapping.
    public let bytes: UnsafeRawBufferPointer
    /// The file's path, for messages.
    public let path: String

    /// Maps `path` read-only.
    public init(path: String) throws(GGUFError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw GGUFError(.unreadable, "cannot open model file '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw GGUFError(.unreadable, "cannot stat model file '\(path)': \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(.unreadable, "'\(path)' is not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            throw GGUFError(.truncated, "model file '\(path)' is empty")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw GGUFError(.unreadable, "cannot map model file '\(path)': \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Tells the kernel that the pages of `range` will not be read again, so they leave resident memory.
    ///
    /// Used after weights were copied into their compute layout. The data stays readable: a later read
    /// faults the pages back in from the file.
    public func release(_ range: Range<Int>) {
        guard let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, Int32(MADV_DONTNEED))
    }

    /// Tells the kernel that `range` will be read at random (no read-ahead), so scattered reads of a few
    /// rows do not pull neighbouring pages into memory.
    public func adviseRandomAccess(_ range: Range<Int>) {
        guard let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, Int32(MADV_RANDOM))
    }

    deinit {
        if let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}

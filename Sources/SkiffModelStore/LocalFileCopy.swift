import Crypto
import Foundation

/// Brings a file on this machine into the store: a hard link when source and store share a file
/// system, a copy otherwise; either way checked against the expected content.
enum LocalFileCopy {
    /// Makes `target` hold the bytes of the file at `source`, checked against `expected`. On a
    /// mismatch `target` is deleted; the source is never changed.
    static func copy(
        from source: String,
        into target: URL,
        expecting expected: ExpectedContent,
        progress: (PullProgress) -> Void
    ) throws {
        guard let size = regularFileSize(atPath: source) else {
            throw ModelStoreError(.invalidReference, "no file at \(source); check the path")
        }
        removeFile(target)
        if link(source, target.path) == 0 {
            if expected.sha256 != nil {
                let (digest, count) = try sha256OfFile(at: target, progress: progress)
                try expected.check(digest, byteCount: count, of: target)
            } else {
                try expected.checkSize(size, of: target)
            }
            var meter = ProgressMeter(phase: .copying, fileName: target.lastPathComponent, totalBytes: size)
            meter.update(size, finished: true, to: progress)
            return
        }
        // Linking fails across file systems (and on some that forbid it); copying always works.
        try copyContents(of: source, size: size, into: target, expecting: expected, progress: progress)
    }

    /// Copies the bytes of `source` into `target`, hashing them on the way, then checks and syncs
    /// `target`; on any failure `target` is deleted.
    static func copyContents(
        of source: String,
        size: Int64,
        into target: URL,
        expecting expected: ExpectedContent,
        progress: (PullProgress) -> Void
    ) throws {
        let file = try PartialFile(url: target)
        try file.truncate(to: 0)
        var hasher = SHA256()
        var meter = ProgressMeter(phase: .copying, fileName: target.lastPathComponent, totalBytes: size)
        var written: Int64 = 0
        do {
            try readFile(atPath: source) { chunk in
                try file.append(chunk)
                hasher.update(bufferPointer: chunk)
                written += Int64(chunk.count)
                meter.update(written, to: progress)
            }
        } catch {
            removeFile(target)
            throw error
        }
        meter.update(written, finished: true, to: progress)
        try file.sync()
        try expected.check(hasher.finalize(), byteCount: written, of: target)
    }
}

import Crypto
import Foundation

/// Brings a file on this machine into the store: a hard link when source and store share a file
/// system, a copy otherwise; either way checked against the expected content.
enum LocalFileCopy {
    /// Brings the bytes of the file at `source` next to `target`, checked against `expected`, and returns
    /// the file to install: a hard link under a name of this pull's own (so that no other pull can be
    /// writing it, and nothing can ever write through it to the source), or `target` holding a copy. On
    /// a mismatch that file is deleted; the source is never changed.
    static func copy(
        from source: String,
        into target: URL,
        expecting expected: ExpectedContent,
        progress: (PullProgress) -> Void
    ) throws -> URL {
        guard let size = regularFileSize(atPath: source) else {
            throw ModelStoreError(.invalidReference, "no file at \(source); check the path")
        }
        let linked = URL(fileURLWithPath: target.path + ".\(UUID().uuidString.prefix(8)).link")
        if link(source, linked.path) == 0 {
            if expected.sha256 != nil {
                let (digest, count): (SHA256.Digest, Int64)
                do {
                    (digest, count) = try sha256OfFile(at: linked, progress: progress)
                } catch {
                    removeFile(linked)
                    throw error
                }
                try expected.check(digest, byteCount: count, of: linked)
            } else {
                try expected.checkSize(size, of: linked)
            }
            var meter = ProgressMeter(phase: .copying, fileName: target.lastPathComponent, totalBytes: size)
            meter.update(size, finished: true, to: progress)
            return linked
        }
        // Linking fails across file systems (and on some that forbid it); copying always works.
        try copyContents(of: source, size: size, into: target, expecting: expected, progress: progress)
        return target
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

import Crypto
import Foundation
import ZIPFoundation

/// Extracts one member of a zip archive (such as a Python wheel) into a file, hashing it on the way.
///
/// The zip library checks each member's CRC-32 as it inflates; the sha256 check is ours. The work is
/// synchronous file I/O on the calling thread.
enum ArchiveExtraction {
    /// Writes member `memberPath` of the archive at `archive` into `target` (replacing what is there),
    /// then checks it against `expected` and syncs it. On any failure `target` is deleted. Messages
    /// call the archive `archiveName`.
    static func extract(
        member memberPath: String,
        from archive: URL,
        named archiveName: String,
        into target: URL,
        expecting expected: ExpectedContent,
        progress: (PullProgress) -> Void
    ) throws {
        let zip: Archive
        do {
            zip = try Archive(url: archive, accessMode: .read)
        } catch {
            throw ModelStoreError(
                .archiveUnreadable,
                "cannot read \(archiveName) as a zip archive: \(error).",
                underlyingError: error
            )
        }
        let path = String(memberPath.trimmingPrefix("/"))
        guard let entry = zip[path], entry.type == .file else {
            let models = zip.filter { $0.type == .file && $0.path.hasSuffix(".gguf") }.map(\.path)
            let found = models.isEmpty ? "it has no .gguf member" : "its .gguf members are: \(models.joined(separator: ", "))"
            throw ModelStoreError(
                .archiveMemberMissing,
                "\(archiveName) has no member '\(path)'; \(found). Pass the right path with --member."
            )
        }

        let file = try PartialFile(url: target)
        try file.truncate(to: 0)
        var hasher = SHA256()
        var meter = ProgressMeter(phase: .extracting, fileName: target.lastPathComponent, totalBytes: Int64(entry.uncompressedSize))
        var written: Int64 = 0
        do {
            _ = try zip.extract(entry, skipCRC32: false) { data in
                try data.withUnsafeBytes { bytes in
                    try file.append(bytes)
                    hasher.update(bufferPointer: bytes)
                }
                written += Int64(data.count)
                meter.update(written, to: progress)
            }
        } catch let error as ModelStoreError {
            removeFile(target)
            throw error
        } catch {
            removeFile(target)
            throw ModelStoreError(
                .archiveUnreadable,
                "cannot extract '\(path)' from \(archiveName), which is damaged: \(error).",
                underlyingError: error
            )
        }
        meter.update(written, finished: true, to: progress)
        try file.sync()
        try expected.check(hasher.finalize(), byteCount: written, of: target)
    }
}

import Crypto
import Foundation
import ZIPFoundation

/// One member of a zip archive on disk (a Python wheel is a zip archive), found and ready to extract.
///
/// The zip library checks the member's CRC-32 as it inflates; sha256 checks are the caller's. The
/// work is synchronous file I/O on the calling thread.
struct ZipMember {
    private let archive: Archive
    private let entry: Entry
    private let path: String
    private let archiveName: String

    /// Opens the zip archive at `url` and finds the regular file `path` in it (a leading `/` is
    /// ignored). Messages call the archive `archiveName`.
    ///
    /// Throws ``ModelStoreError/Code/archiveUnreadable`` when the file is not a zip archive, and
    /// ``ModelStoreError/Code/archiveMemberMissing``, listing the members that look like models, when
    /// there is no such member.
    init(path: String, in url: URL, named archiveName: String) throws {
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw ModelStoreError(
                .archiveUnreadable,
                "cannot read \(archiveName) as a zip archive: \(error).",
                underlyingError: error
            )
        }
        let path = String(path.trimmingPrefix("/"))
        guard let entry = archive[path], entry.type == .file else {
            let models = archive.filter { $0.type == .file && $0.path.contains(".gguf") }.map(\.path)
            let found = models.isEmpty ? "it has no .gguf member" : "its .gguf members are: \(models.joined(separator: ", "))"
            throw ModelStoreError(.archiveMemberMissing, "\(archiveName) has no member '\(path)'; \(found).")
        }
        self.archive = archive
        self.entry = entry
        self.path = path
        self.archiveName = archiveName
    }

    /// Appends the member's bytes to `file`, feeding them to `hasher` as well, and returns how many
    /// there were. Reports progress in the ``PullProgress/Phase/extracting`` phase under the name of
    /// the file written to. Throws ``ModelStoreError/Code/archiveUnreadable`` when the member is damaged.
    func extract(
        appendingTo file: borrowing PartialFile,
        hashing hasher: inout SHA256,
        progress: (PullProgress) -> Void
    ) throws -> Int64 {
        var meter = ProgressMeter(phase: .extracting, fileName: file.url.lastPathComponent, totalBytes: Int64(entry.uncompressedSize))
        var written: Int64 = 0
        do {
            _ = try archive.extract(entry, skipCRC32: false) { data in
                try data.withUnsafeBytes { bytes in
                    try file.append(bytes)
                    hasher.update(bufferPointer: bytes)
                }
                written += Int64(data.count)
                meter.update(written, to: progress)
            }
        } catch let error as ModelStoreError {
            throw error
        } catch {
            throw ModelStoreError(
                .archiveUnreadable,
                "cannot extract '\(path)' from \(archiveName), which is damaged: \(error).",
                underlyingError: error
            )
        }
        meter.update(written, finished: true, to: progress)
        return written
    }
}

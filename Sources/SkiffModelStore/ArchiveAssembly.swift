import Crypto
import Foundation

/// Pulls a model made of zip archive members (``ModelSource/archiveMembers(_:)``): the member of one
/// archive, or the parts of a model split over several archives, joined in order.
///
/// Every archive is fetched first and checked against its own sha256 and size when they are known:
/// a remote one is downloaded into the store under its own name plus `.partial`, going on from what
/// an earlier run left there, and a local one is read where it is. Then every member is looked up,
/// so that a missing one is reported before anything is extracted, and the members are written one
/// after another into `<model>.extracting`, hashed on the way. That file is checked as a whole, and
/// only then installed under the model's name.
///
/// A downloaded archive stays in the store until the model is installed, so that a pull failing
/// later (a network error on another part, a missing member, a model that fails its check) does not
/// download it again; it is deleted once the model is installed, or at once when it fails its own
/// check or is not a readable zip archive. The disk holds the archives and the model at the same time.
struct ArchiveAssembly {
    /// One archive and the member taken from it.
    private struct Part {
        /// The part's place in the model, counting from 1.
        var number: Int
        var member: ArchiveMember
        /// The archive's file name, for messages and for naming its download.
        var archiveName: String
        /// The archive on disk: its download in the store, or the local file.
        var file: URL

        /// Whether `file` is a download into the store, which the pull deletes when done with it.
        var isDownload: Bool {
            if case .remote = member.archive { true } else { false }
        }
    }

    private let parts: [Part]
    private let download: ResumableDownload

    /// Plans the pull of the model `modelFileName` into `store` out of `members`, in order.
    ///
    /// Throws ``ModelStoreError/Code/invalidReference`` when there is no member, or when a remote
    /// archive's name cannot name a file or is the name of another part's archive.
    init(members: [ArchiveMember], modelFileName: String, store: ModelStore, download: ResumableDownload) throws {
        guard !members.isEmpty else {
            throw ModelStoreError(.invalidReference, "the spec of \(modelFileName) lists no archive member to take it from")
        }
        var parts: [Part] = []
        for (index, member) in members.enumerated() {
            let number = index + 1
            let archiveName = member.archive.lastPathComponent ?? "\(modelFileName).part\(number)"
            let file: URL
            switch member.archive {
            case .remote(let url):
                guard isPlainFileName(archiveName) else {
                    throw ModelStoreError(.invalidReference, "cannot name a download after \(url.absoluteString)")
                }
                if let earlier = parts.first(where: { $0.isDownload && $0.archiveName == archiveName }) {
                    throw ModelStoreError(
                        .invalidReference,
                        "parts \(earlier.number) and \(number) of \(modelFileName) would both be downloaded as \(archiveName); each part's archive needs a file name of its own"
                    )
                }
                file = store.path(for: archiveName + ".partial")
            case .local(let path):
                file = URL(fileURLWithPath: path)
            }
            parts.append(Part(number: number, member: member, archiveName: archiveName, file: file))
        }
        self.parts = parts
        self.download = download
    }

    /// The bytes the archives' downloads still need, as far as the archives' sizes are known.
    var bytesToDownload: Int64 {
        parts.filter(\.isDownload).reduce(0) { $0 + remainingBytes(of: $1.member.archiveByteCount, after: $1.file) }
    }

    /// Fetches and checks every archive, joins the members in a file beside `destination`, checks it
    /// against `expected`, installs it at `destination`, and deletes the downloaded archives.
    func run(into destination: URL, expecting expected: ExpectedContent, progress: (PullProgress) -> Void) async throws {
        for part in parts {
            do {
                try await fetch(part) { progress($0.inPart(part.number, of: parts.count)) }
            } catch {
                throw failure(error, in: part)
            }
        }
        var members: [ZipMember] = []
        for part in parts {
            do {
                members.append(try ZipMember(path: part.member.path, in: part.file, named: part.archiveName))
            } catch {
                throw failure(error, in: part)
            }
        }
        let extracting = destination.deletingLastPathComponent().appending(component: destination.lastPathComponent + ".extracting")
        try join(members, into: extracting, expecting: expected, progress: progress)
        try installModel(from: extracting, to: destination)
        for part in parts where part.isDownload {
            removeFile(part.file)
        }
    }

    /// Makes `part`'s archive present and checked: downloads a remote one, hashes a local one (which
    /// is never changed) when its sha256 is known.
    private func fetch(_ part: Part, progress: (PullProgress) -> Void) async throws {
        let expected = ExpectedContent(
            sha256: part.member.archiveSHA256,
            byteCount: part.member.archiveByteCount,
            description: "archive \(part.member.archive)"
        )
        switch part.member.archive {
        case .remote(let url):
            try await download.run(from: url, into: part.file, expecting: expected, progress: progress)
        case .local:
            if expected.sha256 != nil {
                let (digest, count) = try sha256OfFile(at: part.file, progress: progress)
                try expected.check(digest, byteCount: count, of: part.file, removing: false)
            }
        }
    }

    /// Writes the members one after another into `target`, then syncs it and checks it against
    /// `expected`; on any failure `target` is deleted.
    private func join(
        _ members: [ZipMember],
        into target: URL,
        expecting expected: ExpectedContent,
        progress: (PullProgress) -> Void
    ) throws {
        let file = try PartialFile(url: target)
        try file.truncate(to: 0)
        var hasher = SHA256()
        var written: Int64 = 0
        for (part, member) in zip(parts, members) {
            do {
                written += try member.extract(appendingTo: file, hashing: &hasher) {
                    progress($0.inPart(part.number, of: parts.count))
                }
            } catch {
                removeFile(target)
                throw failure(error, in: part)
            }
        }
        try file.sync()
        try expected.check(hasher.finalize(), byteCount: written, of: target)
    }

    /// `error`, which happened to `part`, told of that part (when there are several), with what
    /// became of the part's archive and what to do next. A damaged or unreadable download is deleted.
    private func failure(_ error: any Error, in part: Part) -> any Error {
        guard let error = error as? ModelStoreError else { return error }
        var message = parts.count > 1 ? "part \(part.number) of \(parts.count): \(error.message)" : error.message
        switch error.code {
        case .archiveMemberMissing:
            message += parts.count > 1 ? " The model's spec names the wrong member for this part." : " Pass the right path with --member."
            let downloads = parts.filter(\.isDownload).map(\.file.path)
            if downloads.count == 1 {
                message += " The downloaded archive stays at \(downloads[0]), so the next pull does not download it again."
            } else if downloads.count > 1 {
                message += " The downloaded archives stay at \(downloads.joined(separator: ", ")), so the next pull does not download them again."
            }
        case .archiveUnreadable where part.isDownload:
            removeFile(part.file)
            message += " The downloaded archive was deleted; run the pull again."
        default:
            break
        }
        return ModelStoreError(error.code, message, underlyingError: error.underlyingError)
    }
}

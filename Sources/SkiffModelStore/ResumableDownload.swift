import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Downloads one URL into a `.partial` file, going on from the bytes an earlier run left there.
///
/// With bytes on disk it asks for `Range: bytes=N-`: a 206 answer is appended after the kept bytes
/// (which are hashed first), a 200 answer restarts from zero, and a 416 answer means the file is
/// complete or must be fetched again. The sha256 is computed while the bytes stream in.
struct ResumableDownload {
    /// How long to wait for the answer's headers; a stalled body is caught by the client's read timeout.
    private static let headTimeout = TimeAmount.seconds(60)

    let client: HTTPClient
    let bearerToken: String?

    /// Leaves `partial` holding exactly the expected bytes, synced to disk; on a bad checksum or size
    /// the file is deleted and the error thrown. A network error keeps the bytes received for the
    /// next run; a partial file left empty by a failure is deleted.
    func run(
        from url: URL,
        into partial: URL,
        expecting expected: ExpectedContent,
        progress: (PullProgress) -> Void
    ) async throws {
        let file = try PartialFile(url: partial)
        do {
            try await run(from: url, into: file, expecting: expected, progress: progress)
        } catch {
            if (try? file.size()) == 0 {
                removeFile(partial)
            }
            throw error
        }
    }

    private func run(
        from url: URL,
        into file: borrowing PartialFile,
        expecting expected: ExpectedContent,
        progress: (PullProgress) -> Void
    ) async throws {
        let partial = file.url
        var offset = try file.size()
        if let total = expected.byteCount, offset >= total {
            if offset == total, try hashKeptBytes(of: file, count: offset, progress: progress).matches(expected) {
                try file.sync()
                return
            }
            offset = 0
        }
        while true {
            let response = try await get(url, from: offset)
            let headers = response.headers
            switch RangeResponse(
                status: Int(response.status.code),
                contentRange: headers.first(name: "Content-Range"),
                contentLength: headers.first(name: "Content-Length"),
                requestedOffset: offset
            ) {
            case .write(let start, let totalBytes):
                try checkAnnouncedSize(totalBytes, of: url, expected: expected, partial: partial)
                try await write(response.body, from: url, into: file, at: start, totalBytes: totalBytes, expected, progress)
                return
            case .alreadyComplete:
                if try hashKeptBytes(of: file, count: offset, progress: progress).matches(expected) {
                    try file.sync()
                    return
                }
                offset = 0
            case .restart:
                offset = 0
            case .failure(let status):
                throw httpStatusError(status, response.status.reasonPhrase, url: response.url ?? url)
            }
        }
    }

    /// Sends the GET, with a `Range` header when `offset` is not zero.
    private func get(_ url: URL, from offset: Int64) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.headers.add(name: "User-Agent", value: "skiff")
        // Ranges count bytes of the encoded body, so ask for the file as it is stored.
        request.headers.add(name: "Accept-Encoding", value: "identity")
        if offset > 0 {
            request.headers.add(name: "Range", value: "bytes=\(offset)-")
        }
        if let bearerToken {
            // The client drops this header when a redirect leaves the original host.
            request.headers.add(name: "Authorization", value: "Bearer \(bearerToken)")
        }
        do {
            return try await client.execute(request, timeout: Self.headTimeout)
        } catch {
            try Task.checkCancellation()
            throw ModelStoreError(
                .network,
                "cannot download \(url.absoluteString): \(error). Check the URL and the network, then run the pull again.",
                underlyingError: error
            )
        }
    }

    /// Streams `body` into `file` from byte `start`, hashing the kept bytes first, then checks and syncs it.
    private func write(
        _ body: HTTPClientResponse.Body,
        from url: URL,
        into file: borrowing PartialFile,
        at start: Int64,
        totalBytes: Int64?,
        _ expected: ExpectedContent,
        _ progress: (PullProgress) -> Void
    ) async throws {
        var hasher = start > 0 ? try hashKeptBytes(of: file, count: start, progress: progress).hasher : SHA256()
        try file.truncate(to: start)
        let total = totalBytes ?? expected.byteCount
        var meter = ProgressMeter(phase: .downloading, fileName: url.lastPathComponent, totalBytes: total, resumedFromBytes: start)
        var written = start
        meter.update(written, to: progress)
        do {
            for try await chunk in body {
                try chunk.withUnsafeReadableBytes { bytes in
                    try file.append(bytes)
                    hasher.update(bufferPointer: bytes)
                }
                written += Int64(chunk.readableBytes)
                meter.update(written, to: progress)
            }
        } catch let error as ModelStoreError {
            throw error
        } catch {
            try Task.checkCancellation()
            throw brokenOff(url, written: written, total: total, error)
        }
        if let totalBytes, written != totalBytes {
            throw brokenOff(url, written: written, total: totalBytes, nil)
        }
        meter.update(written, finished: true, to: progress)
        try file.sync()
        try expected.check(hasher.finalize(), byteCount: written, of: file.url)
    }

    /// The hash state and count of the first `count` bytes already in `file`.
    private func hashKeptBytes(
        of file: borrowing PartialFile,
        count: Int64,
        progress: (PullProgress) -> Void
    ) throws -> KeptBytes {
        var hasher = SHA256()
        var meter = ProgressMeter(phase: .checking, fileName: file.url.lastPathComponent, totalBytes: count)
        var done: Int64 = 0
        try file.read(first: count) { chunk in
            hasher.update(bufferPointer: chunk)
            done += Int64(chunk.count)
            meter.update(done, to: progress)
        }
        meter.update(done, finished: true, to: progress)
        return KeptBytes(hasher: hasher, count: done)
    }

    /// Fails early, before any byte is written, when the server announces another size than expected.
    private func checkAnnouncedSize(_ totalBytes: Int64?, of url: URL, expected: ExpectedContent, partial: URL) throws {
        guard let totalBytes, let expectedBytes = expected.byteCount, totalBytes != expectedBytes else { return }
        removeFile(partial)
        throw ModelStoreError(
            .sizeMismatch,
            "size mismatch for \(expected.description): the server says \(url.absoluteString) has \(totalBytes) bytes, but \(expectedBytes) were expected. Check that the URL is the right file."
        )
    }

    private func brokenOff(_ url: URL, written: Int64, total: Int64?, _ error: (any Error)?) -> ModelStoreError {
        let of = total.map { " of \($0)" } ?? ""
        let cause = error.map { ": \($0)" } ?? ""
        return ModelStoreError(
            .network,
            "the download of \(url.absoluteString) broke off after \(written)\(of) bytes\(cause). Run the same pull again to resume from there.",
            underlyingError: error
        )
    }

    private func httpStatusError(_ status: Int, _ reason: String, url: URL) -> ModelStoreError {
        let hint =
            switch status {
            case 401, 403:
                bearerToken == nil
                    ? "The host wants credentials: set \(ModelPuller.bearerTokenVariable) to an access token and run the pull again."
                    : "The host refused the token in \(ModelPuller.bearerTokenVariable); check that it is valid and allows reading this file."
            case 404, 410:
                "Check the URL, or the model name and --member path."
            case 429, 500...599:
                "The server is busy or failing; run the pull again later (it resumes)."
            default:
                "The server did not send the file."
            }
        return ModelStoreError(.httpStatus, "GET \(url.absoluteString) answered HTTP \(status) \(reason). \(hint)")
    }
}

/// The bytes of a download of `total` bytes still to come when `partial` holds what has arrived so
/// far; 0 when the size is unknown.
func remainingBytes(of total: Int64?, after partial: URL) -> Int64 {
    guard let total else { return 0 }
    return max(0, total - (regularFileSize(atPath: partial.path) ?? 0))
}

/// A hash over bytes already on disk, and how many there were.
private struct KeptBytes {
    var hasher: SHA256
    var count: Int64

    func matches(_ expected: ExpectedContent) -> Bool {
        expected.matches(hasher.finalize(), byteCount: count)
    }
}

import Crypto
import Foundation

/// What a file must turn out to be: its sha256 and size, each when known, and how to name it in messages.
struct ExpectedContent {
    /// The sha256 in hex (either case), or `nil` to accept any content.
    var sha256: String?
    /// The size in bytes, or `nil` to accept any size.
    var byteCount: Int64?
    /// Names the file in messages, such as "SmolLM2-135M-Instruct.Q4_1.gguf from https://…".
    var description: String

    /// Throws ``ModelStoreError/Code/sizeMismatch`` or ``ModelStoreError/Code/checksumMismatch`` when
    /// `digest` or `byteCount` is not the expected one, first deleting `file` when `removing` is set
    /// (a pull's own temporary file; never a person's file).
    func check(_ digest: SHA256.Digest, byteCount actual: Int64, of file: URL, removing: Bool = true) throws {
        try checkSize(actual, of: file, removing: removing)
        if let sha256, hexString(digest) != sha256.lowercased() {
            if removing { removeFile(file) }
            throw ModelStoreError(
                .checksumMismatch,
                "checksum mismatch for \(description): expected sha256 \(sha256.lowercased()), got \(hexString(digest)). \(advice(removing))"
            )
        }
    }

    /// Throws ``ModelStoreError/Code/sizeMismatch`` when `actual` is not the expected size, first
    /// deleting `file` when `removing` is set.
    func checkSize(_ actual: Int64, of file: URL, removing: Bool = true) throws {
        if let byteCount, byteCount != actual {
            if removing { removeFile(file) }
            throw ModelStoreError(
                .sizeMismatch,
                "size mismatch for \(description): expected \(byteCount) bytes, got \(actual). \(advice(removing))"
            )
        }
    }

    private func advice(_ removed: Bool) -> String {
        removed
            ? "The file was deleted; run the pull again, and if it fails the same way, the file changed at its source or the expected value is wrong."
            : "Check that this is the right file and the expected value is right."
    }

    /// Whether `digest` and `byteCount` are the expected ones.
    func matches(_ digest: SHA256.Digest, byteCount actual: Int64) -> Bool {
        (byteCount ?? actual) == actual && (sha256.map { $0.lowercased() == hexString(digest) } ?? true)
    }
}

/// The sha256 and size of the file at `url`, reporting progress in the ``PullProgress/Phase/checking`` phase.
func sha256OfFile(at url: URL, progress: (PullProgress) -> Void) throws -> (digest: SHA256.Digest, byteCount: Int64) {
    var hasher = SHA256()
    var meter = ProgressMeter(phase: .checking, fileName: url.lastPathComponent, totalBytes: regularFileSize(atPath: url.path))
    var count: Int64 = 0
    try readFile(atPath: url.path) { chunk in
        hasher.update(bufferPointer: chunk)
        count += Int64(chunk.count)
        meter.update(count, to: progress)
    }
    meter.update(count, finished: true, to: progress)
    return (hasher.finalize(), count)
}

/// Lowercase hex of a digest.
func hexString(_ digest: SHA256.Digest) -> String {
    digest.map(hexByte).joined()
}

/// Whether `text` is a sha256 in hex: 64 hexadecimal digits, either case.
func isSHA256Hex(_ text: String) -> Bool {
    text.utf8.count == 64 && text.allSatisfy(\.isHexDigit)
}

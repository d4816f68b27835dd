/// What to do with the answer to a GET that may have asked for `Range: bytes=N-`.
///
/// Pure decision logic (no I/O), so every answer a server can give is tested without a socket.
enum RangeResponse: Equatable {
    /// Write the body to the file starting at byte `offset` (0 means start over); `totalBytes` is the
    /// whole file's size when the server said it.
    case write(offset: Int64, totalBytes: Int64?)
    /// The file on disk already has every byte (the server answered 416 with the same size).
    case alreadyComplete
    /// The server's range does not fit what is on disk: drop the partial file and ask again for all of it.
    case restart
    /// The status is not one a download can go on from.
    case failure(status: Int)

    /// Decides from the status and headers of the answer, given the offset the request asked for
    /// (0 when it sent no `Range` header).
    init(status: Int, contentRange: String?, contentLength: String?, requestedOffset: Int64) {
        switch status {
        case 200:
            self = .write(offset: 0, totalBytes: contentLength.flatMap { Int64($0) })
        case 206:
            guard let range = contentRange.flatMap(ContentRange.init), range.first == requestedOffset else {
                self = requestedOffset > 0 ? .restart : .failure(status: status)
                return
            }
            self = .write(offset: requestedOffset, totalBytes: range.completeLength)
        case 416 where requestedOffset > 0:
            let completeLength = contentRange.flatMap(ContentRange.init)?.completeLength
            self = completeLength == requestedOffset ? .alreadyComplete : .restart
        default:
            self = .failure(status: status)
        }
    }
}

/// A parsed `Content-Range` header: `bytes 100-199/200`, `bytes */200` or `bytes 100-199/*`.
struct ContentRange: Equatable {
    /// The first byte sent, or `nil` for the `*` form of a 416 answer.
    var first: Int64?
    /// The last byte sent, or `nil` for the `*` form.
    var last: Int64?
    /// The whole file's size, or `nil` when the server wrote `*`.
    var completeLength: Int64?

    /// Parses the header's value; `nil` when it is not a byte range.
    init?(_ value: String) {
        let trimmed = value.trimmingPrefix("bytes ")
        guard trimmed.count < value.count else { return nil }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[1] == "*" {
            completeLength = nil
        } else {
            guard let length = Int64(parts[1]) else { return nil }
            completeLength = length
        }
        if parts[0] == "*" {
            first = nil
            last = nil
        } else {
            let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first <= last else {
                return nil
            }
            self.first = first
            self.last = last
        }
    }
}

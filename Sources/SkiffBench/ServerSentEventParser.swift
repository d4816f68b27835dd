/// One event of a `text/event-stream`: the text of its `data:` lines, joined by newlines.
struct ServerSentEvent: Sendable, Equatable {
    /// The event's data.
    var data: String
}

/// Splits a `text/event-stream` body into events as its bytes arrive, in pieces of any size: a
/// line may be cut anywhere, even between the CR and LF of a CRLF.
///
/// It follows the WHATWG rules that OpenAI-style streams rely on: lines end in LF, CRLF or CR; a
/// blank line ends an event; lines starting with `:` are comments (keep-alives) and are dropped;
/// the `data:` lines of one event join with `\n`; an event without data is not dispatched. Other
/// fields (`event`, `id`, `retry`) are ignored, and an event left unfinished at the end of the
/// body is dropped, as the standard says.
struct ServerSentEventParser: Sendable {
    private var line: [UInt8] = []
    private var dataLines: [String] = []
    /// The previous byte was a CR, so a LF right after it ends no new line.
    private var afterCarriageReturn = false

    /// The events that `bytes` complete, in order.
    mutating func consume(_ bytes: some Sequence<UInt8>) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n") where afterCarriageReturn:
                afterCarriageReturn = false
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                afterCarriageReturn = byte == UInt8(ascii: "\r")
                if let event = endLine() { events.append(event) }
            default:
                afterCarriageReturn = false
                line.append(byte)
            }
        }
        return events
    }

    /// Handles the completed line; returns the event a blank line completes.
    private mutating func endLine() -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard !dataLines.isEmpty else { return nil }
            defer { dataLines.removeAll() }
            return ServerSentEvent(data: dataLines.joined(separator: "\n"))
        }
        if line.first == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        guard line[..<colon].elementsEqual("data".utf8) else { return nil }
        var valueStart = min(colon + 1, line.endIndex)
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        dataLines.append(String(decoding: line[valueStart...], as: UTF8.self))
        return nil
    }
}

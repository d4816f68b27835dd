/// Cuts a `text/event-stream` body into the data of its events as bytes arrive in pieces of any size.
///
/// WHATWG rules, as OpenAI-style streams use them: a line ends with LF, CR or CRLF (even when the CR
/// and LF arrive apart); a blank line ends an event; `:` lines are comments (keep-alives); an event's
/// `data:` lines join with `\n`; other fields are ignored; an event without data is not dispatched and
/// an event unfinished at the end of the body is dropped.
struct EventStreamDecoder: Sendable {
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var pendingLineFeed = false

    /// Feeds bytes; returns the data of each event they complete.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [String] {
        var events: [String] = []
        for byte in bytes {
            if pendingLineFeed {
                pendingLineFeed = false
                if byte == 0x0A { continue }
            }
            if byte == 0x0A || byte == 0x0D {
                pendingLineFeed = byte == 0x0D
                if let event = finishLine() { events.append(event) }
            } else {
                line.append(byte)
            }
        }
        return events
    }

    private mutating func finishLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        guard !line.isEmpty else {
            guard hasData else { return nil }
            defer {
                data.removeAll(keepingCapacity: true)
                hasData = false
            }
            return String(decoding: data, as: UTF8.self)
        }
        guard line.starts(with: "data".utf8) else { return nil }
        var value = line.dropFirst(4)
        guard value.isEmpty || value.first == UInt8(ascii: ":") else { return nil }  // "database: x" is no data field
        value = value.dropFirst()
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        if hasData { data.append(0x0A) }
        data.append(contentsOf: value)
        hasData = true
        return nil
    }
}

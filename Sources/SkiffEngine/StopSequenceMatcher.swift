/// Finds stop sequences in streamed text, even when one is split across tokens, and never lets any part
/// of a stop sequence reach the output.
///
/// Text that could still turn out to be the start of a stop sequence is held back until the next piece
/// shows whether it is.
public struct StopSequenceMatcher: Sendable {
    private let stops: [[Unicode.Scalar]]
    private var pending: [Unicode.Scalar] = []

    /// Matches `stops` (empty strings are ignored).
    public init(stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }.map { Array($0.unicodeScalars) }
    }

    /// Takes the next piece of text. Returns the text that is safe to emit and whether a stop sequence
    /// was completed (in which case nothing after it should be emitted).
    public mutating func feed(_ text: String) -> (text: String, stopped: Bool) {
        pending.append(contentsOf: text.unicodeScalars)
        guard !stops.isEmpty else { return (flush(), false) }
        // The earliest complete stop sequence wins.
        var earliest: Int?
        for stop in stops {
            if let index = firstIndex(of: stop), index < (earliest ?? .max) { earliest = index }
        }
        if let earliest {
            let text = String(String.UnicodeScalarView(pending[..<earliest]))
            pending = []
            return (text, true)
        }
        // Hold back the longest tail that is a prefix of some stop sequence.
        var keep = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, pending.count), to: keep, by: -1)
            where pending.suffix(length).elementsEqual(stop.prefix(length)) {
                keep = length
                break
            }
        }
        let emit = String(String.UnicodeScalarView(pending[..<(pending.count - keep)]))
        pending.removeFirst(pending.count - keep)
        return (emit, false)
    }

    /// Releases held-back text at the end of generation (no stop sequence completed).
    public mutating func flush() -> String {
        defer { pending = [] }
        return String(String.UnicodeScalarView(pending))
    }

    private func firstIndex(of stop: [Unicode.Scalar]) -> Int? {
        guard stop.count <= pending.count else { return nil }
        for start in 0 ... pending.count - stop.count where pending[start ..< start + stop.count].elementsEqual(stop) {
            return start
        }
        return nil
    }
}

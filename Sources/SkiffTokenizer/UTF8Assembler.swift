/// Turns a stream of token bytes into valid UTF-8, piece by piece.
///
/// A sequence cut off at the end of the bytes seen so far is held back until the next bytes complete it,
/// so a character split across tokens is never emitted in halves. Bytes that can never form a character
/// become U+FFFD, one per maximal ill-formed subpart, the same replacement `String(decoding:as:)` makes.
struct UTF8Assembler: Sendable {
    /// The start of a well-formed sequence still waiting for its last bytes (at most 3 bytes).
    private var pending: [UInt8] = []

    /// The UTF-8 of U+FFFD.
    private static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// Appends the valid UTF-8 that `bytes` completes to `output`, holding back an unfinished last character.
    mutating func append(_ bytes: some Collection<UInt8>, to output: inout [UInt8]) {
        var input = pending
        input.append(contentsOf: bytes)
        pending.removeAll()
        var i = 0
        while i < input.count {
            let lead = input[i]
            if lead < 0x80 {
                output.append(lead)
                i += 1
                continue
            }
            guard let (length, secondByte) = Self.sequence(startingWith: lead) else {
                output += Self.replacement
                i += 1
                continue
            }
            var k = 1
            while k < length {
                guard i + k < input.count else {
                    pending = Array(input[i...])
                    return
                }
                let allowed = k == 1 ? secondByte : 0x80 ... 0xBF
                guard allowed.contains(input[i + k]) else { break }
                k += 1
            }
            if k == length {
                output += input[i ..< i + length]
            } else {
                output += Self.replacement
            }
            i += k
        }
    }

    /// Appends U+FFFD for a character left unfinished, and forgets it.
    mutating func finish(to output: inout [UInt8]) {
        if !pending.isEmpty {
            output += Self.replacement
            pending.removeAll()
        }
    }

    /// The length of the sequence `lead` starts and the range its second byte must be in, or nil when `lead`
    /// can never start a well-formed sequence (a continuation byte, C0, C1, F5...FF).
    private static func sequence(startingWith lead: UInt8) -> (Int, ClosedRange<UInt8>)? {
        switch lead {
        case 0xC2 ... 0xDF: (2, 0x80 ... 0xBF)
        case 0xE0: (3, 0xA0 ... 0xBF)
        case 0xE1 ... 0xEC, 0xEE ... 0xEF: (3, 0x80 ... 0xBF)
        case 0xED: (3, 0x80 ... 0x9F)
        case 0xF0: (4, 0x90 ... 0xBF)
        case 0xF1 ... 0xF3: (4, 0x80 ... 0xBF)
        case 0xF4: (4, 0x80 ... 0x8F)
        default: nil
        }
    }
}

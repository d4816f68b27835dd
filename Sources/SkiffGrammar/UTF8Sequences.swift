/// A range of Unicode scalars as UTF-8: sequences of byte ranges, each sequence matching the encodings of
/// one sub-range of scalars whose bytes vary independently (the construction regex engines use to run
/// character classes over bytes). Surrogates are never in the input.
enum UTF8Sequences {
    /// The byte-range sequences whose union encodes exactly the scalars in `range`.
    static func of(_ range: ClosedRange<UInt32>) -> [[ClosedRange<UInt8>]] {
        var result: [[ClosedRange<UInt8>]] = []
        let lengths: [ClosedRange<UInt32>] = [0 ... 0x7F, 0x80 ... 0x7FF, 0x800 ... 0xFFFF, 0x10000 ... 0x10FFFF]
        for (index, span) in lengths.enumerated() where span.overlaps(range) {
            split(max(range.lowerBound, span.lowerBound), min(range.upperBound, span.upperBound), length: index + 1, into: &result)
        }
        return result
    }

    private static func split(_ start: UInt32, _ end: UInt32, length: Int, into result: inout [[ClosedRange<UInt8>]]) {
        for trailing in 1 ..< max(length, 1) {
            let mask: UInt32 = (1 << (6 * UInt32(trailing))) - 1
            guard start & ~mask != end & ~mask else { continue }
            if start & mask != 0 {
                split(start, start | mask, length: length, into: &result)
                split((start | mask) + 1, end, length: length, into: &result)
                return
            }
            if end & mask != mask {
                split(start, (end & ~mask) - 1, length: length, into: &result)
                split(end & ~mask, end, length: length, into: &result)
                return
            }
        }
        let low = encode(start, length: length)
        let high = encode(end, length: length)
        result.append(zip(low, high).map { $0 ... $1 })
    }

    /// The UTF-8 bytes of `scalar` in exactly `length` bytes.
    static func encode(_ scalar: UInt32, length: Int) -> [UInt8] {
        switch length {
        case 1: return [UInt8(scalar)]
        case 2: return [UInt8(0xC0 | scalar >> 6), UInt8(0x80 | scalar & 0x3F)]
        case 3: return [UInt8(0xE0 | scalar >> 12), UInt8(0x80 | scalar >> 6 & 0x3F), UInt8(0x80 | scalar & 0x3F)]
        default:
            return [UInt8(0xF0 | scalar >> 18), UInt8(0x80 | scalar >> 12 & 0x3F), UInt8(0x80 | scalar >> 6 & 0x3F), UInt8(0x80 | scalar & 0x3F)]
        }
    }
}

/// A span of UTF-8 text decoded into Unicode scalars, with each scalar's class and byte offset, so the
/// split patterns can work on scalars while the encoders work on the original bytes.
struct ScalarText {
    /// The scalars in order.
    private(set) var scalars: [Unicode.Scalar] = []
    /// The class of each scalar.
    private(set) var classes: [ScalarClass] = []
    /// The UTF-8 offset where each scalar starts, plus the total length at the end.
    private(set) var byteOffsets: [Int] = []

    /// Decodes `utf8`, which must be valid UTF-8 (it comes from a Swift `String`).
    init(utf8: UnsafeBufferPointer<UInt8>) {
        scalars.reserveCapacity(utf8.count)
        classes.reserveCapacity(utf8.count)
        byteOffsets.reserveCapacity(utf8.count + 1)
        var i = 0
        while i < utf8.count {
            let lead = UInt32(utf8[i])
            let length: Int
            var value: UInt32
            switch lead {
            case ..<0x80: length = 1; value = lead
            case ..<0xE0: length = 2; value = lead & 0x1F
            case ..<0xF0: length = 3; value = lead & 0x0F
            default: length = 4; value = lead & 0x07
            }
            for k in 1 ..< length {
                value = value << 6 | UInt32(utf8[i + k] & 0x3F)
            }
            let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
            scalars.append(scalar)
            classes.append(ScalarClass(scalar))
            byteOffsets.append(i)
            i += length
        }
        byteOffsets.append(utf8.count)
    }

    /// The number of scalars.
    var count: Int { scalars.count }

    /// The UTF-8 byte range of the scalars in `range`.
    func byteRange(_ range: Range<Int>) -> Range<Int> {
        byteOffsets[range.lowerBound] ..< byteOffsets[range.upperBound]
    }
}

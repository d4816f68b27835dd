/// GPT-2's reversible spelling of bytes as printable characters.
///
/// Byte-level BPE vocabularies store every token as a string over 256 characters: the printable bytes
/// `!`...`~`, `¡`...`¬` and `®`...`ÿ` stand for themselves, and the remaining 68 bytes (controls, space, DEL,
/// NBSP, soft hyphen) are shifted to U+0100 and up in byte order, so a space is `Ġ` and a newline `Ċ`.
enum ByteLevelAlphabet {
    /// The character spelling each byte.
    private static let scalarForByte: [Unicode.Scalar] = {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(256)
        var shifted: UInt32 = 0x100
        for byte in 0 ... 255 {
            if standsForItself(UInt8(byte)) {
                scalars.append(Unicode.Scalar(UInt8(byte)))
            } else {
                scalars.append(Unicode.Scalar(shifted)!)
                shifted += 1
            }
        }
        return scalars
    }()

    /// The byte a character spells, indexed by scalar value (all spelling characters are below U+0144).
    private static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarForByte.enumerated() {
            table[Int(scalar.value)] = Int16(byte)
        }
        return table
    }()

    /// The raw bytes a vocabulary entry spells, or nil when it uses a character outside the alphabet
    /// (for example a control token stored as literal text with non-Latin characters).
    static func bytes(spelledBy text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForScalar.count, byteForScalar[value] >= 0 else { return nil }
            bytes.append(UInt8(byteForScalar[value]))
        }
        return bytes
    }

    private static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21 ... 0x7E).contains(byte) || (0xA1 ... 0xAC).contains(byte) || (0xAE ... 0xFF).contains(byte)
    }
}

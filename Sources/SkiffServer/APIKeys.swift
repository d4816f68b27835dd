/// The API keys a server accepts, checked without leaking through timing which bytes matched.
struct APIKeys: Sendable {
    private let keys: [[UInt8]]

    init(_ keys: [String]) {
        self.keys = keys.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    /// Whether any key is required.
    var isEnabled: Bool { !keys.isEmpty }

    /// Whether an `Authorization` header value (`Bearer <key>`) carries an accepted key. Every key is
    /// compared over its full length, whether or not an earlier one matched.
    func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let prefix = "Bearer "
        guard authorization.count > prefix.count, authorization.lowercased().hasPrefix(prefix.lowercased()) else { return false }
        let presented = Array(authorization.utf8.dropFirst(prefix.utf8.count))
        var matched = false
        for key in keys {
            matched = Self.constantTimeEqual(presented, key) || matched
        }
        return matched
    }

    /// Compares in time that depends only on the lengths, not on where the bytes differ.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        difference |= a.count == b.count ? 0 : 1
        for i in 0 ..< max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}

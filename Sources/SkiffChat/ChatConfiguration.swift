import Foundation
import NIOCore
import SkiffChatStore

/// How `skiff-chat` runs: where it listens, which model service it talks to, where it keeps its data
/// and who may use it. Every field has a `--flag` and a `SKIFF_CHAT_*` variable (see `skiff-chat --help`).
public struct ChatConfiguration: Sendable {
    /// Who the users are.
    public enum AuthMode: String, Sendable, CaseIterable {
        /// One local user, no sign-in: for loopback use.
        case none
        /// Local accounts with bcrypt-hashed passwords; the first account is an admin who adds the others.
        case password
        /// The identity header of an authenticating proxy (oauth2-proxy, an OIDC gateway), believed only
        /// from `trustedProxies`.
        case header
    }

    public var host = "127.0.0.1"
    public var port = 8081
    /// The model service's OpenAI API root.
    public var llmURL = "http://127.0.0.1:8080/v1"
    public var llmAPIKey: String?
    public var database: DatabaseURL = .defaultSQLite()
    public var auth: AuthMode = .none
    /// The header that carries the user's name in `header` mode.
    public var authHeader = "X-Forwarded-User"
    /// Addresses whose identity header is believed (`header` mode).
    public var trustedProxies: [AddressRange] = [AddressRange.loopbackV4, AddressRange.loopbackV6]
    /// Messages a user may send per minute, across replicas (0: unlimited).
    public var messagesPerMinute = 20
    /// Largest message a user may send, in bytes of UTF-8.
    public var maxMessageBytes = 64 * 1024
    /// Log the text of messages (off: logs carry ids and sizes only).
    public var logMessageText = false
    /// Mark the session cookie `Secure`; `nil` sets it when the request came over HTTPS
    /// (`X-Forwarded-Proto: https` from a proxy).
    public var secureCookies: Bool?
    /// How long a sign-in lasts.
    public var sessionLifetime: TimeInterval = 30 * 24 * 3600
    /// How long in-flight answers may finish after SIGTERM before they are stored as interrupted.
    public var gracePeriod: Duration = .seconds(30)
    /// How long the model service may stay silent mid-answer before it counts as cut off.
    public var upstreamIdleTimeout: Duration = .seconds(300)

    public init() {}
}

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `::1/128`, or one address).
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    private let network: [UInt8]
    private let prefixLength: Int

    public static let loopbackV4 = try! AddressRange(parsing: "127.0.0.0/8")
    public static let loopbackV6 = try! AddressRange(parsing: "::1/128")

    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let bytes = Self.bytes(of: String(first)) else {
            throw ChatConfigurationError("'\(text)' is not an IP address or CIDR range (10.0.0.0/8, fd00::/8)")
        }
        let length = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
        guard let length, (0...(bytes.count * 8)).contains(length) else {
            throw ChatConfigurationError("'\(text)' has a prefix length outside 0...\(bytes.count * 8)")
        }
        network = bytes
        prefixLength = length
    }

    /// Whether `address` lies in the range (an IPv4-mapped IPv6 address counts as IPv4).
    public func contains(_ address: SocketAddress) -> Bool {
        guard var bytes = address.ipAddress.flatMap(Self.bytes(of:)) else { return false }
        if bytes.count == 16, network.count == 4, bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] {
            bytes = Array(bytes.suffix(4))
        }
        guard bytes.count == network.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(bytes, network) where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String {
        let address = (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: network), port: 0))?.ipAddress ?? "?"
        return "\(address)/\(prefixLength)"
    }

    private static func bytes(of text: String) -> [UInt8]? {
        guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        default:
            return nil
        }
    }
}

/// A configuration value that cannot work, with what to write instead.
public struct ChatConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

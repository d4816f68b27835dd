import ArgumentParser
import Foundation
import Logging
import SkiffChat
import SkiffChatStore

/// `skiff-chat`: the chat web app in front of an OpenAI-compatible model service.
@main
struct SkiffChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff-chat",
        abstract: "A web chat in front of an OpenAI-compatible model service (skiff serve, vLLM, ...).",
        discussion: """
            Every option can also be set by an environment variable, named in its help (the option wins).
            Example: skiff-chat --llm-url http://127.0.0.1:8080/v1, then open http://127.0.0.1:8081/.
            """)

    @Option(help: "Address to listen on. [SKIFF_CHAT_HOST] (default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on. [SKIFF_CHAT_PORT] (default: 8081)")
    var port: Int?

    @Option(help: "The model service's OpenAI API root. [SKIFF_CHAT_LLM_URL] (default: http://127.0.0.1:8080/v1)")
    var llmURL: String?

    @Option(help: "API key sent to the model service. [SKIFF_CHAT_LLM_API_KEY]")
    var llmAPIKey: String?

    @Option(
        help: """
            sqlite:///absolute/path/chat.db or postgres://user:password@host:5432/db[?sslmode=disable|prefer|require]. \
            [SKIFF_CHAT_DATABASE] (default: SQLite in $XDG_DATA_HOME/skiff or ~/.local/share/skiff)
            """)
    var database: String?

    @Option(help: "none (one local user), password (local accounts) or header (an authenticating proxy). [SKIFF_CHAT_AUTH] (default: none)")
    var auth: String?

    @Option(help: "Header carrying the user name in --auth header. [SKIFF_CHAT_AUTH_HEADER] (default: X-Forwarded-User)")
    var authHeader: String?

    @Option(help: "Comma-separated addresses or CIDR ranges whose identity header is believed. [SKIFF_CHAT_TRUSTED_PROXIES] (default: 127.0.0.0/8,::1)")
    var trustedProxies: String?

    @Option(help: "Messages a user may send per minute, 0 for no limit. [SKIFF_CHAT_RATE_LIMIT] (default: 20)")
    var rateLimit: Int?

    @Option(help: "Largest message in KiB. [SKIFF_CHAT_MAX_MESSAGE_KIB] (default: 64)")
    var maxMessageKiB: Int?

    @Option(help: "Seconds answers in flight may finish after SIGTERM. [SKIFF_CHAT_GRACE_PERIOD] (default: 30)")
    var gracePeriod: Int?

    @Option(help: "Session cookie Secure flag: auto (when the request came over HTTPS), true or false. [SKIFF_CHAT_SECURE_COOKIES] (default: auto)")
    var secureCookies: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error. [SKIFF_CHAT_LOG_LEVEL] (default: info)")
    var logLevel: String?

    @Flag(help: "Write the text of messages to the log (off: ids and sizes only). [SKIFF_CHAT_LOG_MESSAGE_TEXT=1]")
    var logMessageText = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func value(_ option: String?, _ name: String) -> String? {
            option ?? environment["SKIFF_CHAT_" + name].flatMap { $0.isEmpty ? nil : $0 }
        }
        func number(_ option: Int?, _ name: String) throws -> Int? {
            if let option { return option }
            guard let text = value(nil, name) else { return nil }
            guard let number = Int(text) else { throw ValidationError("SKIFF_CHAT_\(name)='\(text)' is not a whole number") }
            return number
        }

        var configuration = ChatConfiguration()
        if let host = value(host, "HOST") { configuration.host = host }
        if let port = try number(port, "PORT") {
            guard (0...65535).contains(port) else { throw ValidationError("port \(port) is outside 0...65535") }
            configuration.port = port
        }
        if let url = value(llmURL, "LLM_URL") {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ValidationError("--llm-url '\(url)' must start with http:// or https://")
            }
            configuration.llmURL = url
        }
        configuration.llmAPIKey = value(llmAPIKey, "LLM_API_KEY")
        if let database = value(database, "DATABASE") {
            do {
                configuration.database = try DatabaseURL(parsing: database)
            } catch {
                throw ValidationError(error.message)
            }
        }
        if let auth = value(auth, "AUTH") {
            guard let mode = ChatConfiguration.AuthMode(rawValue: auth) else {
                throw ValidationError("--auth '\(auth)' is not one of none, password, header")
            }
            configuration.auth = mode
        }
        if let header = value(authHeader, "AUTH_HEADER") { configuration.authHeader = header }
        if let proxies = value(trustedProxies, "TRUSTED_PROXIES") {
            do {
                configuration.trustedProxies = try proxies.split(separator: ",").map {
                    try AddressRange(parsing: $0.trimmingCharacters(in: .whitespaces))
                }
            } catch {
                throw ValidationError("\(error)")
            }
        }
        if let limit = try number(rateLimit, "RATE_LIMIT") {
            guard limit >= 0 else { throw ValidationError("--rate-limit cannot be negative") }
            configuration.messagesPerMinute = limit
        }
        if let kib = try number(maxMessageKiB, "MAX_MESSAGE_KIB") {
            guard (1...1024).contains(kib) else { throw ValidationError("--max-message-kib must be within 1...1024") }
            configuration.maxMessageBytes = kib * 1024
        }
        if let seconds = try number(gracePeriod, "GRACE_PERIOD") {
            guard seconds >= 0 else { throw ValidationError("--grace-period cannot be negative") }
            configuration.gracePeriod = .seconds(seconds)
        }
        switch value(secureCookies, "SECURE_COOKIES") ?? "auto" {
        case "auto": configuration.secureCookies = nil
        case "true", "1": configuration.secureCookies = true
        case "false", "0": configuration.secureCookies = false
        case let other: throw ValidationError("--secure-cookies '\(other)' is not one of auto, true, false")
        }
        configuration.logMessageText = logMessageText || ["1", "true"].contains(environment["SKIFF_CHAT_LOG_MESSAGE_TEXT"] ?? "")

        let levelText = value(logLevel, "LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ValidationError("--log-level '\(levelText)' is not one of trace, debug, info, notice, warning, error")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "skiff-chat")
        try await ChatServer(configuration: configuration, logger: logger).run()
    }
}

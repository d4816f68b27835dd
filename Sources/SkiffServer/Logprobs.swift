import SkiffEngine
import SkiffTokenizer

/// The `logprobs` object of a choice, in the layout of the endpoint that asked for it.
enum ChoiceLogprobs: Encodable, Sendable {
    /// Chat: `{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`.
    case chat([ChatTokenLogprob])
    /// Text completions: parallel lists `tokens`, `token_logprobs`, `top_logprobs` (token → logprob) and
    /// `text_offset` (where each token's text starts in the completion, in characters).
    case text(TextLogprobs)

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .chat(let content):
            var c = encoder.container(keyedBy: ChatKeys.self)
            try c.encode(content, forKey: .content)
            try c.encodeNil(forKey: .refusal)
        case .text(let lists):
            try lists.encode(to: encoder)
        }
    }

    private enum ChatKeys: String, CodingKey { case content, refusal }
}

/// One generated token of a chat completion's `logprobs.content`.
struct ChatTokenLogprob: Encodable, Sendable {
    struct Alternative: Encodable, Sendable {
        var token: String
        var logprob: Float
        var bytes: [UInt8]
    }

    var token: String
    var logprob: Float
    var bytes: [UInt8]
    var topLogprobs: [Alternative]

    enum CodingKeys: String, CodingKey {
        case token, logprob, bytes
        case topLogprobs = "top_logprobs"
    }
}

/// A text completion's `logprobs`.
struct TextLogprobs: Encodable, Sendable {
    var tokens: [String] = []
    var tokenLogprobs: [Float] = []
    var topLogprobs: [[String: Float]] = []
    var textOffset: [Int] = []

    enum CodingKeys: String, CodingKey {
        case tokens
        case tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs", textOffset = "text_offset"
    }
}

/// Turns the engine's per-position log-probabilities into the endpoint's `logprobs` objects, keeping the
/// running character offset that text completions report.
struct LogprobsFormatter: Sendable {
    let tokenizer: Tokenizer
    private var offset = 0

    init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// The entries for `positions`; nil when there are none (the request did not ask).
    mutating func format(_ positions: [PositionLogprobs], chat: Bool) -> ChoiceLogprobs? {
        guard !positions.isEmpty else { return nil }
        if chat {
            return .chat(positions.map { position in
                let (token, bytes) = spelling(position.chosen.token)
                return ChatTokenLogprob(token: token, logprob: Self.finite(position.chosen.logprob), bytes: bytes,
                                        topLogprobs: position.top.map {
                                            let (text, bytes) = spelling($0.token)
                                            return .init(token: text, logprob: Self.finite($0.logprob), bytes: bytes)
                                        })
            })
        }
        var lists = TextLogprobs()
        for position in positions {
            let token = spelling(position.chosen.token).text
            lists.tokens.append(token)
            lists.tokenLogprobs.append(Self.finite(position.chosen.logprob))
            var top: [String: Float] = [:]
            for alternative in position.top {
                let text = spelling(alternative.token).text
                top[text] = max(top[text] ?? -.infinity, Self.finite(alternative.logprob))
            }
            lists.topLogprobs.append(top)
            lists.textOffset.append(offset)
            offset += token.unicodeScalars.count
        }
        return .text(lists)
    }

    /// Merges the text lists of a whole completion (for a non-streamed answer).
    static func merge(_ parts: [ChoiceLogprobs]) -> ChoiceLogprobs? {
        guard let first = parts.first else { return nil }
        switch first {
        case .chat:
            var content: [ChatTokenLogprob] = []
            for case .chat(let entries) in parts { content += entries }
            return .chat(content)
        case .text:
            var all = TextLogprobs()
            for case .text(let lists) in parts {
                all.tokens += lists.tokens
                all.tokenLogprobs += lists.tokenLogprobs
                all.topLogprobs += lists.topLogprobs
                all.textOffset += lists.textOffset
            }
            return .text(all)
        }
    }

    private func spelling(_ token: Int32) -> (text: String, bytes: [UInt8]) {
        let bytes = tokenizer.tokenBytes(token)
        return (String(decoding: bytes, as: UTF8.self), bytes)
    }

    /// JSON has no infinity: a token the model gives no chance is reported with the lowest finite value.
    private static func finite(_ value: Float) -> Float {
        value.isFinite ? value : -9999
    }
}

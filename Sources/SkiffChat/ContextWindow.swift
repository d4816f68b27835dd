import SkiffChatUpstream

/// Which turns of a conversation one request carries when the whole conversation would not fit the
/// model's context: the system prompt and the newest turns that leave room for the answer, starting at a
/// user turn (chat templates expect a conversation to open with the user). The stored conversation is
/// never cut; only what is sent.
struct ContextWindow: Sendable {
    /// The model's context, prompt plus answer, in tokens.
    var contextLength: Int
    /// Tokens kept free for the answer.
    var answerReserve: Int

    /// A window for a model of `contextLength` tokens; the answer keeps `maxTokens` free where the
    /// conversation sets it, else a quarter of the context, at most 1 024 tokens.
    init(contextLength: Int, maxTokens: Int?) {
        self.contextLength = contextLength
        answerReserve = min(maxTokens ?? min(1024, contextLength / 4), contextLength - 1)
    }

    /// The most tokens `turns` can take, known without a tokenizer: a token covers at least one byte
    /// of text (byte-level BPE and SentencePiece with byte fallback alike), and a chat template adds a
    /// few tokens per message and some of its own.
    static func tokenBound(_ turns: [ChatTurn]) -> Int {
        turns.reduce(256) { $0 + $1.content.utf8.count + $1.role.utf8.count + 16 }
    }

    /// An estimate for a service that has no tokenizer endpoint: three bytes a token, which English
    /// text exceeds with every common tokenizer, so the estimate errs towards leaving more out.
    static func tokenEstimate(_ turns: [ChatTurn]) -> Int {
        turns.reduce(64) { $0 + ($1.content.utf8.count + 2) / 3 + 8 }
    }

    /// The turns to send (`system` first, if any) and how many of the oldest `history` turns are left
    /// out. `count` gives the prompt tokens of a list of turns; it is asked only when
    /// ``tokenBound(_:)`` cannot tell, and a logarithmic number of times. When not even the newest
    /// user turn fits, that turn is sent alone, and the service's own context error reaches the user.
    func fit(
        system: ChatTurn?, history: [ChatTurn], count: ([ChatTurn]) async throws -> Int
    ) async rethrows -> (turns: [ChatTurn], omitted: Int) {
        let budget = contextLength - answerReserve
        func turns(from start: Int) -> [ChatTurn] { (system.map { [$0] } ?? []) + history[start...] }
        func fits(from start: Int) async throws -> Bool {
            let candidate = turns(from: start)
            if Self.tokenBound(candidate) <= budget { return true }
            return try await count(candidate) <= budget
        }
        // Where the sent turns may begin: the first turn, or any later user turn.
        let starts = [0] + history.indices.dropFirst().filter { history[$0].role == "user" }
        if try await fits(from: 0) || starts.count == 1 { return (turns(from: 0), 0) }
        // Fewer turns take fewer tokens: the earliest start that fits, by bisection over starts[1...].
        var low = 1
        var high = starts.count - 1
        while low < high {
            let middle = (low + high) / 2
            if try await fits(from: starts[middle]) { high = middle } else { low = middle + 1 }
        }
        return (turns(from: starts[low]), starts[low])
    }
}

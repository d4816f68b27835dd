/// One request of a benchmark: the text to send and the most tokens to ask for.
///
/// For the chat endpoint, `system` becomes a system message and `prompt` a user message; for the
/// completions endpoint, the two are joined by a blank line into one prompt.
public struct BenchPrompt: Sendable, Equatable {
    /// A system prompt, the same for every request when it models a shared prefix; nil for none.
    public var system: String?
    /// The user's text.
    public var prompt: String
    /// `max_tokens` for this request.
    public var maxTokens: Int

    /// A prompt to send with `max_tokens` = `maxTokens`.
    public init(system: String? = nil, prompt: String, maxTokens: Int) {
        self.system = system
        self.prompt = prompt
        self.maxTokens = maxTokens
    }
}

/// The list of requests a benchmark sends, in order.
public enum Workload {
    /// `requests` synthetic prompts of about `promptTokens` tokens each, all different, asking for
    /// `outputTokens` tokens; with `sharedPrefixTokens` > 0, every prompt also carries the same
    /// system prompt of about that many tokens (see ``SyntheticText`` for the length estimate).
    public static func synthetic(requests: Int, promptTokens: Int, outputTokens: Int,
                                 sharedPrefixTokens: Int = 0) -> [BenchPrompt] {
        let prefix = sharedPrefix(tokens: sharedPrefixTokens)
        return (0..<max(requests, 0)).map { index in
            BenchPrompt(system: prefix, prompt: SyntheticText.text(tokens: promptTokens, variant: UInt64(index)),
                        maxTokens: outputTokens)
        }
    }

    /// `requests` requests taken from `prompts` in order, starting over at the top when the file
    /// has fewer; with `sharedPrefixTokens` > 0, each gets the same synthetic system prompt
    /// (replacing its own). Empty if `prompts` is.
    public static func cycling(_ prompts: [BenchPrompt], requests: Int, sharedPrefixTokens: Int = 0) -> [BenchPrompt] {
        guard !prompts.isEmpty else { return [] }
        let prefix = sharedPrefix(tokens: sharedPrefixTokens)
        return (0..<max(requests, 0)).map { index in
            var prompt = prompts[index % prompts.count]
            if let prefix { prompt.system = prefix }
            return prompt
        }
    }

    /// The shared system prompt, or nil for 0 tokens. Its variant lies outside the range that
    /// per-request prompts use, so it never equals one of them.
    private static func sharedPrefix(tokens: Int) -> String? {
        tokens > 0 ? SyntheticText.text(tokens: tokens, variant: .max) : nil
    }
}

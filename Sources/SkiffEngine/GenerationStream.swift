import SkiffTokenizer

/// A request's generation as text: the engine's tokens, detokenized and cut at the first stop string in
/// the task that reads the stream (the engine thread never touches the tokenizer).
///
/// Events come in order: text pieces, then exactly one `finished`; a refused or failed request throws
/// its `EngineError` instead. When a stop string completes, the stream ends with `.stop` and cancels the
/// request in the engine; dropping the stream cancels it too.
public struct GenerationStream: AsyncSequence, Sendable {
    public typealias Element = GenerationEvent

    let tokens: InferenceEngine.TokenStream
    let text: TextAssembler
    let promptTokens: Int
    let cancel: @Sendable () -> Void

    public func makeAsyncIterator() -> Iterator {
        Iterator(tokens: tokens.makeAsyncIterator(), text: text, promptTokens: promptTokens, cancel: cancel)
    }

    /// Reads the engine's tokens and turns them into events.
    public struct Iterator: AsyncIteratorProtocol {
        var tokens: InferenceEngine.TokenStream.AsyncIterator
        var text: TextAssembler
        let promptTokens: Int
        let cancel: @Sendable () -> Void
        /// Events owed before the next token is read: the end after a last piece of text.
        var owed: [GenerationEvent] = []
        var ended = false
        var generated = 0
        var cachedPromptTokens = 0

        public mutating func next() async throws -> GenerationEvent? {
            if !owed.isEmpty { return owed.removeFirst() }
            guard !ended, let output = try await tokens.next() else { return nil }
            switch output {
            case .token(_, let token, let logprobs, let cached):
                generated += 1
                cachedPromptTokens = cached
                let (piece, stopped) = text.append(token)
                if stopped {
                    ended = true
                    cancel()
                    owed = [.finished(.stop, GenerationUsage(promptTokens: promptTokens, completionTokens: generated,
                                                             cachedPromptTokens: cachedPromptTokens))]
                }
                return .text(piece, tokens: [token], logprobs: logprobs.map { [$0] } ?? [])
            case .finished(_, let reason, let usage):
                ended = true
                let tail = text.finish()
                guard tail.isEmpty else {
                    owed = [.finished(reason, usage)]
                    return .text(tail, tokens: [])
                }
                return .finished(reason, usage)
            case .failed(_, let error):
                ended = true
                throw error
            }
        }
    }
}

/// Generated tokens to text: a streaming detokenizer (a character split across tokens waits for its
/// last byte) and the request's stop strings (text that may begin one is held back until it cannot).
struct TextAssembler: Sendable {
    private var detokenizer: StreamingDetokenizer
    private var stops: StopSequenceMatcher

    init(tokenizer: Tokenizer, stops: [String]) {
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        self.stops = StopSequenceMatcher(stops: stops)
    }

    /// The text `token` completes, and whether a stop string ended there (nothing after it is emitted).
    mutating func append(_ token: Int32) -> (text: String, stopped: Bool) {
        stops.feed(detokenizer.append(token))
    }

    /// The text held back, at the end of a generation that no stop string ended.
    mutating func finish() -> String {
        let (text, stopped) = stops.feed(detokenizer.flush())
        return stopped ? text : text + stops.flush()
    }
}

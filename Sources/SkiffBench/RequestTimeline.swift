/// What one successful request measured.
struct RequestMetrics: Sendable, Equatable {
    /// From sending the request to the first chunk with generated text.
    var timeToFirstToken: Duration
    /// The gaps between successive chunks with generated text (one fewer than the chunks; a chunk
    /// may carry several tokens).
    var interTokenLatencies: [Duration]
    /// From sending the request to the end of the stream (`[DONE]`).
    var endToEndLatency: Duration
    /// Prompt tokens as the server's `usage` counts them (template included), if it reported usage.
    var promptTokens: Int?
    /// Generated tokens: `usage.completion_tokens`, else the number of chunks with text.
    var outputTokens: Int
    /// Whether `outputTokens` came from the server's `usage`.
    var outputTokensFromUsage: Bool

    /// (E2E − TTFT) / (output tokens − 1): decode time per token after the first; nil for one token.
    var timePerOutputToken: Duration? {
        outputTokens > 1 ? (endToEndLatency - timeToFirstToken) / (outputTokens - 1) : nil
    }
}

/// One request of a run: when it was sent and finished, and what it measured or why it failed.
struct RequestRecord: Sendable {
    var sentAt: ContinuousClock.Instant
    var finishedAt: ContinuousClock.Instant
    var outcome: Result<RequestMetrics, RequestError>
}

/// The timeline of one streamed request, built from the events of its stream as they arrive.
/// It reads no clock and does no I/O: the caller passes the instant of each event, so tests can
/// feed it made-up times.
struct RequestTimeline: Sendable {
    private let sentAt: ContinuousClock.Instant
    private var firstContentAt: ContinuousClock.Instant?
    private var lastContentAt: ContinuousClock.Instant?
    private var gaps: [Duration] = []
    private var contentChunks = 0
    private var promptTokens: Int?
    private var completionTokens: Int?

    /// A timeline for a request sent at `sentAt`.
    init(sentAt: ContinuousClock.Instant) {
        self.sentAt = sentAt
    }

    /// A chunk with generated text arrived at `instant`.
    mutating func receivedContent(at instant: ContinuousClock.Instant) {
        if let lastContentAt {
            gaps.append(instant - lastContentAt)
        } else {
            firstContentAt = instant
        }
        lastContentAt = instant
        contentChunks += 1
    }

    /// The server reported token counts; the last report wins.
    mutating func receivedUsage(promptTokens: Int?, completionTokens: Int?) {
        self.promptTokens = promptTokens ?? self.promptTokens
        self.completionTokens = completionTokens ?? self.completionTokens
    }

    /// The record of a stream that ended properly at `instant`: a failure if it had no text.
    func finished(at instant: ContinuousClock.Instant) -> RequestRecord {
        guard let firstContentAt else {
            return failed(RequestError(.emptyOutput, """
                the stream ended without generated text (the model stopped at once; \
                --ignore-eos asks llama.cpp and vLLM to keep going)
                """), at: instant)
        }
        let metrics = RequestMetrics(
            timeToFirstToken: firstContentAt - sentAt, interTokenLatencies: gaps,
            endToEndLatency: instant - sentAt, promptTokens: promptTokens,
            outputTokens: completionTokens ?? contentChunks, outputTokensFromUsage: completionTokens != nil)
        return RequestRecord(sentAt: sentAt, finishedAt: instant, outcome: .success(metrics))
    }

    /// The record of a request that failed at `instant`.
    func failed(_ error: RequestError, at instant: ContinuousClock.Instant) -> RequestRecord {
        RequestRecord(sentAt: sentAt, finishedAt: instant, outcome: .failure(error))
    }
}

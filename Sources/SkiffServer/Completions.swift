import Foundation
import Hummingbird
import Logging
import SkiffEngine
import SkiffGrammar
import SkiffModelFile
import SkiffToolCalling

/// Runs one chat or text completion through the engine and answers it whole or as server-sent events.
///
/// A request is refused (with its HTTP status) before anything is sent when the engine refuses it:
/// the first engine event is awaited before the response starts. After that, a client that goes away
/// ends the request: the body writer fails, the engine stream is dropped, and the engine cancels the
/// sequence and frees its blocks.
struct Completions: Sendable {
    /// Which OpenAI endpoint: it decides the object names and the choice layout.
    enum Kind: Sendable {
        case chat, text

        var idPrefix: String { self == .chat ? "chatcmpl-" : "cmpl-" }
        var object: String { self == .chat ? "chat.completion" : "text_completion" }
        var chunkObject: String { self == .chat ? "chat.completion.chunk" : "text_completion" }
    }

    let engine: InferenceEngine
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    /// The longest sequence (prompt plus output) the engine accepts.
    let contextLength: Int
    /// The sampling settings for what a request leaves out.
    let samplingDefaults: SamplingParameters

    /// Answers a request whose prompt is already tokenized. `arrival` is when the request arrived, for
    /// the time to first token.
    /// With `tools`, a chat answer is read for tool calls.
    func respond(kind: Kind, prompt: [Int32], options: GenerationOptions, tools: ToolContext? = nil, arrival: ContinuousClock.Instant,
                 logger: Logger, promptText: @autoclosure () -> String) async throws -> Response {
        // The server's own limits; the engine checks the rest (the context, the vocabulary, max_tokens).
        if let limit = configuration.maxPromptTokens, prompt.count > limit {
            throw APIError.contextLengthExceeded(
                "This server accepts prompts of at most \(limit) tokens; the prompt has \(prompt.count) tokens.")
        }
        let maxTokens = min(options.maxTokens ?? .max, configuration.maxTokensCap ?? .max)
        var grammar: CompiledGrammar?
        if let requested = options.constraint { grammar = try await compile(requested.constraint, field: requested.field) }
        let request = GenerationRequest(prompt: prompt, sampling: try options.samplingParameters(defaults: samplingDefaults), maxTokens: maxTokens,
                                        stop: options.stop, minTokens: min(options.minTokens, maxTokens),
                                        ignoreEndOfGeneration: options.ignoreEOS, logprobs: options.logprobs,
                                        deadline: configuration.requestTimeout.map { arrival + $0 }, grammar: grammar)
        let id = Self.makeID(kind)
        var logger = logger
        logger[metadataKey: "request.id"] = "\(id)"
        if configuration.logPrompts { logger.info("prompt", metadata: ["prompt": "\(promptText())"]) }

        let stream = engine.generate(request)
        var tracker = RequestTracker(metrics: metrics, arrival: arrival, promptTokens: prompt.count)
        var events = stream.makeAsyncIterator()
        let first: GenerationEvent?
        do {
            first = try await events.next()
        } catch {
            throw APIError.from(error)
        }
        guard let first else {
            // The engine's stream ends early only when the task is cancelled: the client has gone.
            tracker.abort()
            throw Task.isCancelled ? .clientClosedRequest : APIError.internalError("The engine ended the request without an answer.")
        }
        tracker.record(first)
        let header = Header(id: id, created: Int(Date().timeIntervalSince1970), model: configuration.servedModelName)

        var logprobsFormatter = LogprobsFormatter(tokenizer: engine.model.tokenizer)
        if !options.stream {
            var text = ""
            var logprobs: [ChoiceLogprobs] = []
            var event = first
            while true {
                switch event {
                case .text(let piece, _, let positions):
                    text += piece
                    if let formatted = logprobsFormatter.format(positions, chat: kind == .chat) { logprobs.append(formatted) }
                case .finished(let reason, let usage):
                    tracker.finish(reason)
                    log(logger, usage: usage, reason: reason, completion: text)
                    var choice = Choice(content: kind == .chat ? .message(text) : .text(text), finishReason: reason,
                                        logprobs: LogprobsFormatter.merge(logprobs))
                    if let answer = tools?.answer(text, reason: reason) {
                        choice = Choice(content: .toolCalls(content: answer.content, calls: answer.calls), finish: "tool_calls")
                    }
                    let body = CompletionBody(id: header.id, object: kind.object, created: header.created, model: header.model,
                                              choices: [choice], usage: Usage(usage), writesUsage: true)
                    return try Self.json(body)
                }
                do {
                    guard let next = try await events.next() else {
                        throw Task.isCancelled ? .clientClosedRequest : APIError.internalError("The engine ended the request early.")
                    }
                    event = next
                    tracker.record(event)
                } catch {
                    tracker.abort()
                    throw APIError.from(error)
                }
            }
        }

        let includeUsage = options.includeUsage
        let requestLogger = logger
        let logPrompts = configuration.logPrompts
        let trackerAfterFirst = tracker
        let formatterAfterFirst = logprobsFormatter
        let body = ResponseBody { writer in
            var tracker = trackerAfterFirst
            var logprobsFormatter = formatterAfterFirst
            var completion = ""
            var finished = false
            var toolStream = tools.flatMap { $0.readsCalls ? $0.stream() : nil }
            defer { if !finished { tracker.abort() } }
            func chunk(_ content: Choice.Content?, finish: String? = nil, usage: GenerationUsage? = nil,
                       logprobs: ChoiceLogprobs? = nil) throws -> ByteBuffer {
                let choices = content.map { content -> [Choice] in
                    var choice = Choice(content: content, finish: finish)
                    choice.logprobs = logprobs
                    return [choice]
                } ?? []
                return try ServerSentEvents.event(CompletionBody(
                    id: header.id, object: kind.chunkObject, created: header.created, model: header.model,
                    choices: choices, usage: usage.map(Usage.init), writesUsage: includeUsage))
            }
            func write(_ event: GenerationEvent, to writer: inout any ResponseBodyWriter) async throws {
                switch event {
                case .text(let piece, _, let positions):
                    if logPrompts { completion += piece }
                    if toolStream != nil {
                        for event in toolStream!.feed(piece) { try await writer.write(chunk(Self.delta(event))) }
                        return
                    }
                    let logprobs = logprobsFormatter.format(positions, chat: kind == .chat)
                    guard !piece.isEmpty || logprobs != nil else { return }
                    try await writer.write(chunk(kind == .chat ? .delta(role: false, text: piece) : .text(piece), logprobs: logprobs))
                case .finished(let reason, let usage):
                    finished = true
                    tracker.finish(reason)
                    var finish = reason.rawValue
                    if toolStream != nil {
                        for event in toolStream!.finish() { try await writer.write(chunk(Self.delta(event))) }
                        if toolStream!.callCount > 0, reason == .stop { finish = "tool_calls" }
                    }
                    try await writer.write(chunk(kind == .chat ? .delta(role: false, text: nil) : .text(""), finish: finish))
                    if includeUsage { try await writer.write(chunk(nil, usage: usage)) }
                    try await writer.write(ServerSentEvents.done)
                    log(requestLogger, usage: usage, reason: reason, completion: completion)
                }
            }

            if kind == .chat { try await writer.write(chunk(.delta(role: true, text: ""))) }
            try await write(first, to: &writer)
            do {
                // The handler's iterator is not used again; this one continues the same stream.
                for try await event in stream where !finished {
                    tracker.record(event)
                    try await write(event, to: &writer)
                }
            } catch let error as EngineError {
                try await writer.write(ServerSentEvents.event(APIError(error)))
                try await writer.write(ServerSentEvents.done)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: ServerSentEvents.contentType, .cacheControl: "no-cache"], body: body)
    }

    /// The chat chunk content of a tool stream event.
    private static func delta(_ event: ToolCallStream.Event) -> Choice.Content {
        switch event {
        case .content(let text): .delta(role: false, text: text)
        case .call(let index, let id, let name): .toolCallDelta(index: index, id: id, name: name, arguments: "")
        case .arguments(let index, let text): .toolCallDelta(index: index, id: nil, name: nil, arguments: text)
        }
    }

    private struct Header: Sendable {
        var id: String
        var created: Int
        var model: String
    }

    private func log(_ logger: Logger, usage: GenerationUsage, reason: FinishReason, completion: String) {
        var metadata: Logger.Metadata = [
            "prompt_tokens": "\(usage.promptTokens)", "completion_tokens": "\(usage.completionTokens)",
            "cached_prompt_tokens": "\(usage.cachedPromptTokens)", "finish_reason": "\(reason.rawValue)",
        ]
        if configuration.logPrompts { metadata["completion"] = "\(completion)" }
        logger.info("completion finished", metadata: metadata)
    }

    /// The grammar of an output constraint for the served model's vocabulary, compiled off the event loops (the
    /// first one builds the vocabulary's trie; the engine keeps the latest compiled grammars).
    /// - Throws: `APIError` 400 naming `field` when the constraint cannot be used.
    private func compile(_ constraint: OutputConstraint, field: String) async throws(APIError) -> CompiledGrammar {
        let grammars = engine.grammars
        let result = await Task.detached { () -> Result<CompiledGrammar, GrammarError> in
            do throws(GrammarError) {
                return .success(try grammars.compiled(constraint))
            } catch {
                return .failure(error)
            }
        }.value
        switch result {
        case .success(let grammar): return grammar
        case .failure(let error): throw .invalidRequest("'\(field)' cannot be used: \(error.message).", param: field)
        }
    }

    static func makeID(_ kind: Kind) -> String {
        kind.idPrefix + (0 ..< 12).map { _ in String(format: "%02x", UInt8.random(in: 0 ... 255)) }.joined()
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The latency and token metrics of one request, fed its events as they arrive.
struct RequestTracker: Sendable {
    let metrics: ServerMetrics
    let arrival: ContinuousClock.Instant
    let promptTokens: Int
    private var lastToken: ContinuousClock.Instant?
    private var started = false
    private var ended = false

    init(metrics: ServerMetrics, arrival: ContinuousClock.Instant, promptTokens: Int) {
        self.metrics = metrics
        self.arrival = arrival
        self.promptTokens = promptTokens
    }

    mutating func record(_ event: GenerationEvent) {
        if !started {
            started = true
            metrics.addPromptTokens(promptTokens)
        }
        guard case .text(_, let tokens, _) = event, !tokens.isEmpty else { return }
        let now = ContinuousClock.now
        if let lastToken {
            metrics.observeInterTokenLatency((now - lastToken).secondsValue)
        } else {
            metrics.observeTimeToFirstToken((now - arrival).secondsValue)
        }
        lastToken = now
        metrics.addGenerationTokens(tokens.count)
    }

    mutating func finish(_ reason: FinishReason) {
        guard !ended else { return }
        ended = true
        metrics.observeFinished(reason == .stop ? .stop : .length, seconds: (ContinuousClock.now - arrival).secondsValue)
    }

    mutating func abort() {
        guard !ended else { return }
        ended = true
        metrics.observeFinished(.abort, seconds: (ContinuousClock.now - arrival).secondsValue)
    }
}

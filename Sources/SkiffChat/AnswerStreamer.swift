import Foundation
import Hummingbird
import Logging
import NIOCore
import SkiffChatStore
import SkiffChatUpstream

/// Streams one answer from the model service to the browser while storing it.
///
/// The answer's row exists before the model is asked (state `streaming`); its text is saved every
/// half second while it streams, so a replica killed mid-answer leaves the text so far in the database,
/// and its final state is saved when it ends: `complete`, `stopped` (the browser closed the stream: the
/// Stop button), `interrupted` (the service or this replica's shutdown cut it) or `failed`.
///
/// The browser receives `text/event-stream` events, each a JSON object with a `type`: `start`, `delta`
/// (`text`), `done` (`state`, `stats`) or `error` (`state`, `kind`, `message`, `retryAfter`).
struct AnswerStreamer: Sendable {
    let state: ChatState
    /// The browser connection's loop, where the stream's tasks run (see ``EventLoopTaskExecutor``).
    let eventLoop: any EventLoop

    /// How often the text of a streaming answer is saved.
    static let saveInterval: Duration = .milliseconds(500)

    func response(conversation: Conversation, history: [Message], answer: Message, userMessage: Message?) -> Response {
        let state = self.state
        let executor = EventLoopTaskExecutor(eventLoop)
        var start = #"{"type":"start","answerId":"\#(answer.id)","answerSequence":\#(answer.sequence)"#
        if let userMessage {
            start += #","userMessageId":"\#(userMessage.id)","userMessageSequence":\#(userMessage.sequence)"#
        }
        let startEvent = start + "}"
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HeaderName("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await withTaskExecutorPreference(executor) {
                    try await Self.stream(state: state, conversation: conversation, history: history, answer: answer, start: startEvent, to: &writer)
                }
            })
    }

    /// Streams one answer's events to `writer`; the caller sets where its tasks run.
    private static func stream(
        state: ChatState, conversation: Conversation, history: [Message], answer: Message, start: String,
        to writer: inout any ResponseBodyWriter
    ) async throws {
        state.metrics.streamStarted()
        state.streams.begin()
        let (events, continuation) = AsyncStream<String>.makeStream()
        continuation.yield(start)
        let outcome = await withTaskGroup(of: ChatMetrics.StreamOutcome?.self) { group in
            group.addTask {
                await Self.generate(
                    state: state, conversation: conversation, history: history, answer: answer,
                    events: continuation)
            }
            group.addTask {
                // The drain's grace period ended: end the browser stream, which cancels the answer.
                await state.streams.waitForCutOff()
                continuation.finish()
                return nil
            }
            do {
                for await event in events {
                    try await writer.write(ByteBuffer(string: "data: \(event)\n\n"))
                }
            } catch {
                // The browser went away (Stop, or the tab closed); the answer stops below.
            }
            // The events end when the answer ends, the browser is gone, or the drain cut it off:
            // in the last two cases the answer is still running and is cancelled here.
            group.cancelAll()
            var outcome = ChatMetrics.StreamOutcome.interrupted
            for await result in group {
                if let result { outcome = result }
            }
            return outcome
        }
        state.streams.end()
        state.metrics.streamEnded(outcome)
        try? await writer.finish(nil)
    }

    /// Asks the model service and stores the answer; sends events to `events` and finishes it.
    static func generate(
        state: ChatState, conversation: Conversation, history: [Message], answer: Message,
        events: AsyncStream<String>.Continuation
    ) async -> ChatMetrics.StreamOutcome {
        defer { events.finish() }
        let clock = ContinuousClock()
        let started = clock.now
        var text = ""
        var lastSave = started
        var logger = state.logger
        logger[metadataKey: "conversation"] = "\(conversation.id)"
        logger[metadataKey: "answer"] = "\(answer.id)"
        do {
            let served = try await state.model(for: conversation)
            let model = served.id
            let system = conversation.settings.systemPrompt.isEmpty
                ? nil : ChatTurn(role: "system", content: conversation.settings.systemPrompt)
            let history = history.filter { !($0.role == .assistant && ($0.state == .failed || $0.content.isEmpty)) }
                .map { ChatTurn(role: $0.role.rawValue, content: $0.content) }
            var turns = (system.map { [$0] } ?? []) + history
            var omitted = 0
            if let contextLength = served.contextLength {
                // A service that states its context gets only what fits; its tokenizer counts where it has one.
                (turns, omitted) = await ContextWindow(contextLength: contextLength, maxTokens: conversation.settings.maxTokens)
                    .fit(system: system, history: history) { candidate in
                        // Without a tokenizer endpoint, or when it fails, an estimate that errs towards leaving out more.
                        (try? await state.upstream.promptTokenCount(model: model, messages: candidate))
                            ?? ContextWindow.tokenEstimate(candidate)
                    }
            }
            if omitted > 0 {
                events.yield(#"{"type":"context","omittedMessages":\#(omitted),"contextLength":\#(served.contextLength ?? 0)}"#)
                logger.info("older messages left out to fit the model's context", metadata: [
                    "omitted_messages": "\(omitted)", "sent_messages": "\(turns.count)", "context": "\(served.contextLength ?? 0)",
                ])
            }
            let request = ChatCompletionRequest(
                model: model, messages: turns, temperature: conversation.settings.temperature,
                maxTokens: conversation.settings.maxTokens)
            let summary = try await state.upstream.streamChat(request) { piece in
                if text.isEmpty {
                    state.metrics.recordTimeToFirstToken(seconds: (clock.now - started).milliseconds / 1000)
                }
                text += piece
                events.yield(#"{"type":"delta","text":\#(JSONText.quote(piece))}"#)
                if clock.now - lastSave >= saveInterval {
                    lastSave = clock.now
                    _ = try? await state.store.updateMessage(id: answer.id, content: text, state: .streaming)
                }
            }
            let stats = MessageStats(
                promptTokens: summary.promptTokens, completionTokens: summary.completionTokens,
                timeToFirstTokenMilliseconds: summary.timeToFirstToken?.milliseconds,
                durationMilliseconds: summary.duration.milliseconds, omittedMessages: omitted > 0 ? omitted : nil)
            await finalSave(state, answer, text, .complete, nil, stats, model: summary.model ?? model)
            events.yield(#"{"type":"done","state":"complete","stats":\#(JSONText.stats(stats))}"#)
            logger.info(
                "answer complete",
                metadata: ["characters": "\(text.count)", "completion_tokens": "\(summary.completionTokens ?? -1)"])
            return .complete
        } catch let error as UpstreamError {
            state.metrics.recordUpstreamError(error.kind)
            let final: MessageState = text.isEmpty ? .failed : .interrupted
            await finalSave(state, answer, text, final, error.message, MessageStats(), model: nil)
            var event = #"{"type":"error","state":"\#(final.rawValue)","kind":"\#(error.kind.rawValue)","message":\#(JSONText.quote(error.message))"#
            if let retryAfter = error.retryAfterSeconds { event += #","retryAfter":\#(retryAfter)"# }
            events.yield(event + "}")
            logger.warning("answer failed", metadata: ["kind": "\(error.kind.rawValue)", "detail": "\(error.detail)"])
            return final == .failed ? .failed : .interrupted
        } catch {
            // Cancelled: the browser closed the stream (Stop), or this replica is shutting down.
            let final: MessageState = state.isDraining ? .interrupted : .stopped
            let note = final == .stopped ? nil : "The chat server restarted while answering; this answer is partial."
            await finalSave(state, answer, text, final, note, MessageStats(), model: nil)
            logger.info("answer ended early", metadata: ["state": "\(final.rawValue)", "characters": "\(text.count)"])
            return final == .stopped ? .stopped : .interrupted
        }
    }

    /// Saves the answer's end even when the streaming task is cancelled: the save runs in a task of its
    /// own, which the request's cancellation does not reach.
    private static func finalSave(
        _ state: ChatState, _ answer: Message, _ text: String, _ final: MessageState, _ error: String?,
        _ stats: MessageStats, model: String?
    ) async {
        let store = state.store
        let logger = state.logger
        await Task {
            do {
                try await store.updateMessage(id: answer.id, content: text, state: final, error: error, stats: stats, model: model)
            } catch {
                logger.error("could not store an answer's end", metadata: ["answer": "\(answer.id)", "error": "\(error)"])
            }
        }.value
    }
}

/// JSON text for the few values the event stream sends, without an encoder per token.
enum JSONText {
    static func quote(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func stats(_ stats: MessageStats) -> String {
        func number(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "null" }
        func integer(_ value: Int?) -> String { value.map(String.init) ?? "null" }
        return #"{"promptTokens":\#(integer(stats.promptTokens)),"completionTokens":\#(integer(stats.completionTokens)),"ttftMs":\#(number(stats.timeToFirstTokenMilliseconds)),"durationMs":\#(number(stats.durationMilliseconds)),"omittedMessages":\#(integer(stats.omittedMessages))}"#
    }
}

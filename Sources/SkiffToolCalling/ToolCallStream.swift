import Foundation
/// Reads tool calls out of generated text as it streams, for OpenAI's streamed `tool_calls` deltas: each call's id,
/// type and name first, then its arguments in fragments. A state machine without I/O: feed it the text pieces, then
/// `finish()`.
///
/// Text that cannot be part of a call streams through as content at once. Text that may begin a call is held back
/// until it is known: for the `hermes` format from `<tool_call>` to `</tool_call>`; for formats whose calls are the
/// whole answer, the whole answer when it begins like JSON. Under `tool_choice` naming a function, the answer is the
/// arguments, so they stream as they come; under `required`, each call streams when its list element is complete.
public struct ToolCallStream: Sendable {
    /// What a piece of text turns out to be.
    public enum Event: Sendable, Equatable {
        /// Text of the answer.
        case content(String)
        /// Call number `index` (from 0) begins.
        case call(index: Int, id: String, name: String)
        /// More of call `index`'s arguments (JSON text; the fragments of a call join to its whole arguments).
        case arguments(index: Int, String)
    }

    private let format: ToolCallFormat
    private let tools: [ToolDefinition]
    private let choice: ToolChoice
    private let parallel: Bool
    private var ids: [String]
    private var random = SystemRandomNumberGenerator()
    private var buffer = ""
    private var calls = 0
    private var elementsDone = 0

    /// A stream for a request's tools; `ids` gives the first calls' ids in turn, and `ToolCallFormat.newCallID` makes the rest.
    public init(format: ToolCallFormat, tools: [ToolDefinition], choice: ToolChoice, parallel: Bool, ids: [String] = []) {
        self.format = format
        self.tools = tools
        self.choice = choice
        self.parallel = parallel
        self.ids = ids
    }

    /// The calls found so far.
    public var callCount: Int { calls }

    private mutating func nextID() -> String {
        ids.isEmpty ? format.newCallID(using: &random) : ids.removeFirst()
    }

    /// The events `text`, the next piece of the answer, completes.
    public mutating func feed(_ text: String) -> [Event] {
        switch choice {
        case .none:
            return text.isEmpty ? [] : [.content(text)]
        case .function(let name):
            var events: [Event] = []
            if calls == 0 {
                events.append(.call(index: 0, id: nextID(), name: name))
                calls = 1
            }
            if !text.isEmpty { events.append(.arguments(index: 0, text)) }
            return events
        case .required:
            buffer += text
            return completedElements()
        case .auto:
            buffer += text
            return autoEvents(final: false)
        }
    }

    /// The events left when the answer has ended.
    public mutating func finish() -> [Event] {
        switch choice {
        case .none, .function: return []
        case .required: return completedElements()
        case .auto: return autoEvents(final: true)
        }
    }

    /// Under `required`: the list elements completed since the last call (the answer is a JSON list of
    /// `{"name", "arguments"}` objects made under the tools' grammar, so its elements are found by depth).
    private mutating func completedElements() -> [Event] {
        var events: [Event] = []
        var depth = 0
        var inString = false
        var escaped = false
        var start: String.Index?
        var element = 0
        for index in buffer.indices {
            let c = buffer[index]
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            switch c {
            case "\"": inString = true
            case "{", "[":
                depth += 1
                if depth == 2, c == "{" { start = index }
            case "}", "]":
                if depth == 2, c == "}", let from = start {
                    if element >= elementsDone {
                        let text = String(buffer[from ... index])
                        for call in ToolCallFormat.constrainedCalls(in: "[" + text + "]", choice: .required) {
                            events.append(.call(index: calls, id: nextID(), name: call.name))
                            events.append(.arguments(index: calls, call.arguments))
                            calls += 1
                        }
                        elementsDone += 1
                    }
                    element += 1
                }
                depth -= 1
            default: break
            }
        }
        return events
    }

    /// Under `auto`: content streams until text may start a call; held text is released when it turns out not to be one.
    private mutating func autoEvents(final: Bool) -> [Event] {
        switch format {
        case .hermes: return hermesEvents(final: final)
        case .mistral: return markerEvents(marker: "[TOOL_CALLS]", final: final)
        case .llama3, .generic: return wholeAnswerEvents(final: final)
        }
    }

    private mutating func hermesEvents(final: Bool) -> [Event] {
        var events: [Event] = []
        let open = "<tool_call>"
        let close = "</tool_call>"
        while !buffer.isEmpty {
            if let start = buffer.range(of: open) {
                let before = String(buffer[..<start.lowerBound])
                if !before.isEmpty, calls == 0 || !before.allSatisfy(\.isWhitespace) { events.append(.content(before)) }
                guard let end = buffer.range(of: close, range: start.upperBound ..< buffer.endIndex) else {
                    if final {
                        events += emitCallsOrContent(String(buffer[start.lowerBound...]), as: .hermes)
                        buffer = ""
                    } else {
                        buffer = String(buffer[start.lowerBound...])
                    }
                    return events
                }
                events += emitCallsOrContent(String(buffer[start.lowerBound ..< end.upperBound]), as: .hermes)
                buffer = String(buffer[end.upperBound...])
                continue
            }
            // Hold back a tail that may be the start of the marker.
            let keep = final ? 0 : (1 ..< open.count).reversed().first { buffer.hasSuffix(open.prefix($0)) } ?? 0
            let emit = String(buffer.dropLast(keep))
            if !emit.isEmpty, calls == 0 || !emit.allSatisfy(\.isWhitespace) { events.append(.content(emit)) }
            buffer = String(buffer.suffix(keep))
            return events
        }
        return events
    }

    private mutating func markerEvents(marker: String, final: Bool) -> [Event] {
        if let start = buffer.range(of: marker) {
            var events: [Event] = []
            let before = String(buffer[..<start.lowerBound])
            if !before.isEmpty { events.append(.content(before)) }
            buffer = String(buffer[start.lowerBound...])
            guard final else { return events }
            events += emitCallsOrContent(buffer, as: format)
            buffer = ""
            return events
        }
        let keep = final ? 0 : (1 ..< marker.count).reversed().first { buffer.hasSuffix(marker.prefix($0)) } ?? 0
        let emit = String(buffer.dropLast(keep))
        buffer = String(buffer.suffix(keep))
        return emit.isEmpty ? [] : [.content(emit)]
    }

    /// Whether a whole-answer call is possible (`undecided`), ruled out (`text`) or being held (`held`).
    private enum WholeAnswer: Sendable { case undecided, text, held }
    private var wholeAnswer = WholeAnswer.undecided

    private mutating func wholeAnswerEvents(final: Bool) -> [Event] {
        if wholeAnswer == .undecided {
            let start = String(buffer.drop { $0.isWhitespace })
            let openers = ["{", "[", "```", "<|python_tag|>"]
            if openers.contains(where: { start.hasPrefix($0) }) {
                wholeAnswer = .held
            } else if start.isEmpty || openers.contains(where: { $0.hasPrefix(start) }) {
                if !final { return [] }
            } else {
                wholeAnswer = .text
            }
        }
        switch wholeAnswer {
        case .held where !final:
            return []
        case .held:
            let text = buffer
            buffer = ""
            return emitCallsOrContent(text, as: format)
        case .text, .undecided:
            let text = buffer
            buffer = ""
            return text.isEmpty ? [] : [.content(text)]
        }
    }

    private mutating func emitCallsOrContent(_ text: String, as format: ToolCallFormat) -> [Event] {
        let (content, found) = format.parse(text, tools: tools)
        guard !found.isEmpty else { return text.isEmpty ? [] : [.content(text)] }
        var events: [Event] = content.isEmpty ? [] : [.content(content)]
        for call in found where parallel || calls == 0 {
            events.append(.call(index: calls, id: nextID(), name: call.name))
            events.append(.arguments(index: calls, call.arguments))
            calls += 1
        }
        return events
    }
}

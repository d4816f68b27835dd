import Foundation

/// Prompts from a JSON Lines file: one JSON object per line, with a string `prompt` and
/// optionally a positive integer `max_tokens` (else the default given) and a string `system`.
/// Blank lines are skipped; any other line that is not such an object makes the whole file
/// invalid, and the error lists the offending lines by number.
///
/// ```
/// {"prompt": "Explain the KV cache in two sentences.", "max_tokens": 64}
/// {"system": "You are terse.", "prompt": "What is PagedAttention?"}
/// ```
public enum PromptFile {
    /// The most bad lines an error message lists.
    static let listedProblems = 5

    /// Reads and parses the file at `path`.
    public static func load(path: String, defaultMaxTokens: Int) throws(BenchError) -> [BenchPrompt] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw BenchError(.unreadablePromptFile,
                             "cannot read the prompt file \(path) as UTF-8 text: \(error.localizedDescription)")
        }
        return try parse(text, defaultMaxTokens: defaultMaxTokens, name: path)
    }

    /// Parses JSON Lines `text`; `name` names the file in error messages.
    public static func parse(_ text: String, defaultMaxTokens: Int, name: String = "the prompt file") throws(BenchError) -> [BenchPrompt] {
        var prompts: [BenchPrompt] = []
        var problems: [String] = []
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            switch prompt(from: trimmed, defaultMaxTokens: defaultMaxTokens) {
            case .success(let prompt): prompts.append(prompt)
            case .failure(let problem): problems.append("line \(offset + 1): \(problem.reason)")
            }
        }
        if !problems.isEmpty {
            let shown = problems.prefix(listedProblems).joined(separator: "; ")
            let more = problems.count > listedProblems ? "; and \(problems.count - listedProblems) more" : ""
            throw BenchError(.invalidPromptFile, """
                \(name) has \(problems.count) bad line\(problems.count == 1 ? "" : "s") (each line must be a JSON \
                object with a string "prompt" and optionally an integer "max_tokens" and a string "system"): \(shown)\(more)
                """)
        }
        if prompts.isEmpty {
            throw BenchError(.invalidPromptFile, "\(name) has no prompts; write one JSON object per line, like {\"prompt\": \"Hello\"}")
        }
        return prompts
    }

    /// Why one line is not a prompt.
    struct LineProblem: Error {
        var reason: String
    }

    /// The fields a line may have.
    private struct Line: Decodable {
        var prompt: String?
        /// A Double, so that 2.5 is reported as "not an integer" rather than as bad JSON.
        var maxTokens: Double?
        var system: String?

        enum CodingKeys: String, CodingKey {
            case prompt, maxTokens = "max_tokens", system
        }
    }

    /// The prompt on one non-blank line.
    private static func prompt(from line: String, defaultMaxTokens: Int) -> Result<BenchPrompt, LineProblem> {
        let fields: Line
        do {
            fields = try JSONDecoder().decode(Line.self, from: Data(line.utf8))
        } catch {
            return .failure(LineProblem(reason: reason(for: error, line: line)))
        }
        guard let text = fields.prompt, !text.isEmpty else {
            return .failure(LineProblem(reason: "\"prompt\" is missing or empty"))
        }
        var maxTokens = defaultMaxTokens
        if let value = fields.maxTokens {
            guard value >= 1, value <= Double(Int32.max), value.rounded() == value else {
                return .failure(LineProblem(reason: "\"max_tokens\" must be a positive integer"))
            }
            maxTokens = Int(value)
        }
        return .success(BenchPrompt(system: fields.system, prompt: text, maxTokens: maxTokens))
    }

    /// Says which field of a line has the wrong type, or that the line is not a JSON object.
    private static func reason(for error: any Error, line: String) -> String {
        guard case DecodingError.typeMismatch(_, let context) = error else {
            return "not valid JSON (\(excerpt(line)))"
        }
        switch context.codingPath.first?.stringValue {
        case "max_tokens": return "\"max_tokens\" must be a positive integer"
        case let field?: return "\"\(field)\" must be a string"
        case nil: return "not a JSON object (\(excerpt(line)))"
        }
    }

    /// The start of a line, for error messages.
    private static func excerpt(_ line: String) -> String {
        line.count > 40 ? String(line.prefix(40)) + "…" : line
    }
}

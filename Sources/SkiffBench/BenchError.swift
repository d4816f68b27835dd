/// A benchmark that cannot start: a bad target URL, an unreadable prompt file, a server that
/// does not list its models. Failures of single requests during a run are not thrown; they are
/// recorded as ``RequestError``s and counted in the report.
public struct BenchError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem stopped the benchmark.
    public enum Code: Sendable, Equatable {
        /// The `--url` is not an http(s) URL with a host.
        case invalidURL
        /// The prompt file could not be read.
        case unreadablePromptFile
        /// The prompt file has lines that are not prompts.
        case invalidPromptFile
        /// `GET /models` failed, so no model name could be chosen.
        case modelListFailed
    }

    /// What kind of problem this is.
    public var code: Code
    /// What went wrong and how to fix it, in one or a few sentences.
    public var message: String

    /// Creates an error with a code and a message that says how to fix it.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

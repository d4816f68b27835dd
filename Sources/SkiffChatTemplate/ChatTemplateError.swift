/// An error from parsing or rendering a chat template, or from reading a JSON value.
///
/// Every failure of this module is one of these: nothing in the module traps on bad input.
/// `code` says what kind of failure it is, `message` says what went wrong in words a user
/// can act on, and `line`/`column` (1-based, counted in Unicode scalars) point into the
/// template source (or the JSON text) when the failure has a place there.
public struct ChatTemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: Sendable, Equatable, Hashable {
        /// The template source is not valid Jinja (or uses an unknown filter or test name).
        case syntax
        /// An operation needed a value but got an undefined variable, key or attribute
        /// (Jinja's `UndefinedError`); printing or testing an undefined value is not an error.
        case undefinedValue
        /// An operation got a value of the wrong type, such as adding a string to a number.
        case typeMismatch
        /// A filter, test, method or function got an argument it cannot use.
        case invalidArgument
        /// The template uses a Jinja feature this renderer does not implement.
        case unsupportedFeature
        /// The template called `raise_exception(message)`; `message` is the template's text, verbatim.
        case raisedByTemplate
        /// Rendering went past a safety limit (output size, work, recursion or nesting depth).
        case limitExceeded
        /// Text given to `TemplateValue(json:)` is not valid JSON.
        case invalidJSON
    }

    /// What kind of failure this is.
    public let code: Code
    /// What went wrong, without the location prefix. For `.raisedByTemplate` this is exactly
    /// the message the template passed to `raise_exception`.
    public let message: String
    /// 1-based line of the failure in the template (or JSON) source, when it has one.
    public let line: Int?
    /// 1-based column (in Unicode scalars) of the failure, when it has one.
    public let column: Int?

    init(_ code: Code, _ message: String, at location: SourceLocation? = nil) {
        self.code = code
        self.message = message
        self.line = location?.line
        self.column = location?.column
    }

    /// The message with its place, e.g. `chat template line 3, column 12: unknown filter 'foo'`.
    public var description: String {
        let subject = code == .invalidJSON ? "JSON value" : "chat template"
        let detail = code == .raisedByTemplate ? "template raised an exception: \(message)" : message
        if let line, let column {
            return "\(subject) line \(line), column \(column): \(detail)"
        }
        return "\(subject): \(detail)"
    }

    /// This error with `location` filled in, unless it already has a place.
    func located(at location: SourceLocation) -> ChatTemplateError {
        if line != nil { return self }
        return ChatTemplateError(code, message, at: location)
    }
}

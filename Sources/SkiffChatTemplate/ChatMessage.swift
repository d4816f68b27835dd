/// One turn of a conversation, as the template sees it: `{"role": role, "content": content}`.
///
/// Only text content is carried; messages with tool calls or image parts are not expressible
/// here (pass such data through `extraVariables` if a template reads it).
public struct ChatMessage: Sendable, Equatable {
    /// Who speaks: usually `system`, `user`, `assistant` or `tool`. Not checked here; templates
    /// decide which roles they accept.
    public var role: String
    /// The text of the turn.
    public var content: String

    /// A message with the given role and text.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

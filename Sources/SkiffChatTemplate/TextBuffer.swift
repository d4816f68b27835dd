/// A string being built that refuses to grow past a byte limit, so that printing a value
/// that shares one large string many times fails early instead of exhausting memory.
struct TextBuffer {
    private(set) var text = ""
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ piece: String) throws(ChatTemplateError) {
        guard text.utf8.count + piece.utf8.count <= limit else {
            throw ChatTemplateError(
                .limitExceeded,
                "text would be longer than the limit of \(limit) bytes")
        }
        text += piece
    }
}

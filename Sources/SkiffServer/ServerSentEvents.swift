import Foundation
import Hummingbird

/// Server-sent events as OpenAI streams them: each event is `data: <json>\n\n`, and the stream ends
/// with `data: [DONE]\n\n`.
enum ServerSentEvents {
    /// The `Content-Type` of an event stream.
    static let contentType = "text/event-stream"

    /// One event carrying `value` as JSON.
    static func event(_ value: some Encodable) throws -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(try JSONEncoder().encode(value))
        buffer.writeString("\n\n")
        return buffer
    }

    /// One event carrying an error in the API's shape, for failures after the stream has started.
    static func event(_ error: APIError) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        var body = error.body
        buffer.writeBuffer(&body)
        buffer.writeString("\n\n")
        return buffer
    }

    /// The last event.
    static let done = ByteBuffer(string: "data: [DONE]\n\n")
}

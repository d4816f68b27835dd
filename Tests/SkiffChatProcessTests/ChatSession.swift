import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A browser's part of talking to a running `skiff-chat` over HTTP: its session cookie and CSRF token.
struct ChatSession {
    let baseURL: String
    let cookie: String
    let csrf: String

    /// Opens the home page and keeps the session it starts.
    static func open(_ baseURL: String) async throws -> ChatSession {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: baseURL + "/"), timeout: .seconds(300))
        let html = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let cookie = response.headers.first(name: "set-cookie")?.split(separator: ";").first.map(String.init)
        let marker = #"<meta name="csrf-token" content=""#
        guard let cookie, let range = html.range(of: marker) else {
            throw ChildProcess.Failure(description: "the home page carried no session: \(response.status)\n\(html.prefix(500))")
        }
        return ChatSession(baseURL: baseURL, cookie: cookie, csrf: String(html[range.upperBound...].prefix { $0 != "\"" }))
    }

    func request(_ path: String, method: HTTPMethod = .GET, body: String? = nil) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Cookie", value: cookie)
        request.headers.add(name: "X-CSRF-Token", value: csrf)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        return request
    }

    /// GETs `path` and returns its status and text.
    func get(_ path: String) async throws -> (status: Int, text: String) {
        let response = try await HTTPClient.shared.execute(request(path), timeout: .seconds(300))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 22)))
    }

    /// `/ready`, asked every 100 ms (at most 300 s) until its `model_service` is no longer `status`.
    func readyWhenModelService(isNot status: String) async throws -> (status: Int, text: String) {
        let deadline = ContinuousClock.now + .seconds(300)
        while true {
            let ready = try await get("/ready")
            if !ready.text.contains(#""model_service":"\#(status)""#) || ContinuousClock.now > deadline { return ready }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Creates a conversation with `settings` (JSON) and returns its id.
    func newConversation(settings: String = "{}") async throws -> String {
        let response = try await HTTPClient.shared.execute(
            request("/api/conversations", method: .POST, body: settings), timeout: .seconds(300))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .created,
            let id = (try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])?["id"] as? String
        else {
            throw ChildProcess.Failure(description: "creating a conversation answered \(response.status): \(String(buffer: body))")
        }
        return id
    }

    /// Sends `text` and reads the answer's events, calling `onEvent` with each (a JSON object); the events
    /// end with the stream or when the connection breaks (the events read so far are returned then).
    func send(
        _ text: String, to conversation: String, onEvent: ([String: Any]) async throws -> Void = { _ in }
    ) async throws -> [[String: Any]] {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["content": text]), as: UTF8.self)
        let response = try await HTTPClient.shared.execute(
            request("/api/conversations/\(conversation)/messages", method: .POST, body: body), timeout: .seconds(60))
        guard response.status == .ok else {
            throw ChildProcess.Failure(
                description: "sending answered \(response.status): \(String(buffer: try await response.body.collect(upTo: 1 << 20)))")
        }
        var events: [[String: Any]] = []
        var buffer = ""
        var callbackError: (any Error)?
        do {
            reading: for try await part in response.body {
                buffer += String(buffer: part)
                while let boundary = buffer.range(of: "\n\n") {
                    let raw = buffer[..<boundary.lowerBound]
                    buffer = String(buffer[boundary.upperBound...])
                    guard raw.hasPrefix("data: "),
                        let event = try JSONSerialization.jsonObject(with: Data(raw.dropFirst(6).utf8)) as? [String: Any]
                    else { continue }
                    events.append(event)
                    do {
                        try await onEvent(event)
                    } catch {
                        callbackError = error
                        break reading
                    }
                }
            }
        } catch {
            // The chat server went away mid-stream (a test killed it): the events so far are the answer;
            // the callers' checks of the events say whether that was expected.
        }
        // A failed step of the test's own (a wait that ran out) fails the test, with its reason.
        if let callbackError { throw callbackError }
        return events
    }

    /// The conversation as its JSON export: each message's role, content, state and error.
    func export(_ conversation: String) async throws -> [[String: Any]] {
        let (status, text) = try await get("/c/\(conversation)/export.json")
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw ChildProcess.Failure(description: "export answered \(status): \(text.prefix(500))")
        }
        return object["messages"] as? [[String: Any]] ?? []
    }
}

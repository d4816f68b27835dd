import Foundation
import Testing
import SkiffChatTestSupport

@testable import SkiffChatUpstream

/// Collects streamed text across the client's callback.
actor TextSink {
    private(set) var pieces: [String] = []
    func append(_ text: String) { pieces.append(text) }
}

func withClient<T: Sendable>(
    _ standIn: StandInUpstream, apiKey: String? = nil, _ body: @Sendable (UpstreamClient) async throws -> T
) async throws -> T {
    let client = UpstreamClient(configuration: .init(baseURL: standIn.baseURL + "/", apiKey: apiKey, idleTimeout: .seconds(60)))
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

func request(_ model: String) -> ChatCompletionRequest {
    ChatCompletionRequest(
        model: model, messages: [ChatTurn(role: "system", content: "Be brief."), ChatTurn(role: "user", content: "Hi")],
        temperature: 0.5, maxTokens: 32)
}

@Suite struct UpstreamClientTests {
    @Test func streamsTextAndReportsUsage() async throws {
        try await StandInUpstream.with { standIn in
            try await withClient(standIn, apiKey: "sk-test") { client in
                let sink = TextSink()
                let summary = try await client.streamChat(request("standin-a")) { await sink.append($0) }
                #expect(await sink.pieces == StandInUpstream.tokens)
                #expect(summary.promptTokens == 9)
                #expect(summary.completionTokens == 4)
                #expect(summary.finishReason == "stop")
                #expect(summary.model == "standin-a")
                #expect(summary.timeToFirstToken != nil)

                let sent = try #require(await standIn.log.bodies.first)
                let json = try #require(try JSONSerialization.jsonObject(with: Data(sent.utf8)) as? [String: Any])
                #expect(json["stream"] as? Bool == true)
                #expect((json["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
                #expect(json["max_tokens"] as? Int == 32)
                #expect(json["temperature"] as? Double == 0.5)
                #expect((json["messages"] as? [[String: String]])?.map { $0["role"] ?? "" } == ["system", "user"])
                #expect(await standIn.log.authorizations == ["Bearer sk-test"])
            }
        }
    }

    @Test func listsModels() async throws {
        try await StandInUpstream.with { standIn in
            try await withClient(standIn) { client in
                let models = try await client.models(timeout: .seconds(60))
                #expect(models == [ServedModel(id: "standin-a"), ServedModel(id: "standin-b", contextLength: StandInUpstream.contextLength)])
                let turns = [ChatTurn(role: "system", content: "Be brief."), ChatTurn(role: "user", content: "Count these four words")]
                #expect(try await client.promptTokenCount(model: "standin-b", messages: turns) == 2 + 4 + 2 + 4 + 4)
            }
        }
    }

    @Test(arguments: [
        ("busy", UpstreamError.Kind.busy, 7 as Int?),
        ("starting", .busy, nil),
        ("context", .contextTooLong, nil),
        ("unknown", .rejected, nil),
        ("broken", .serverError, nil),
        ("cut", .cutOff, nil),
        ("garbage", .malformed, nil),
        ("error-event", .serverError, nil),
    ])
    func failuresBecomeStatesTheUserIsTold(model: String, kind: UpstreamError.Kind, retryAfter: Int?) async throws {
        try await StandInUpstream.with { standIn in
            try await withClient(standIn) { client in
                let sink = TextSink()
                let error = await #expect(throws: UpstreamError.self) {
                    _ = try await client.streamChat(request(model)) { text in
                        await sink.append(text)
                        // `cut` breaks the connection once the client has both of its chunks.
                        if model == "cut", await sink.pieces.count == 2 { await standIn.log.releaseCut() }
                    }
                }
                #expect(error?.kind == kind)
                #expect(error?.retryAfterSeconds == retryAfter)
                if kind == .busy, let retryAfter {
                    #expect(error?.message.contains("\(retryAfter) seconds") == true)
                }
                if model == "cut" {
                    #expect(await sink.pieces == ["Partial", " answer"])
                }
            }
        }
    }

    @Test func anUnreachableServiceSaysSo() async throws {
        // A port that was just free: nothing listens there.
        let port = try await StandInUpstream.with { $0.port }
        let client = UpstreamClient(configuration: .init(baseURL: "http://127.0.0.1:\(port)/v1", connectTimeout: .seconds(2)))
        let error = await #expect(throws: UpstreamError.self) {
            _ = try await client.streamChat(request("standin-a")) { _ in }
        }
        #expect(error?.kind == .unreachable)
        let modelsError = await #expect(throws: UpstreamError.self) { _ = try await client.models() }
        #expect(modelsError?.kind == .unreachable)
        try await client.shutdown()
    }

    @Test func cancellingTheStreamClosesTheUpstreamRequest() async throws {
        try await StandInUpstream.with { standIn in
            try await withClient(standIn) { client in
                let sink = TextSink()
                let (firstText, signal) = AsyncStream<Void>.makeStream()
                let task = Task {
                    try await client.streamChat(request("slow")) { text in
                        await sink.append(text)
                        signal.yield()
                    }
                }
                var iterator = firstText.makeAsyncIterator()
                _ = await iterator.next()
                task.cancel()
                await #expect(throws: CancellationError.self) { _ = try await task.value }
                // The stand-in notices the closed connection at its next write (every 20 ms).
                let deadline = ContinuousClock.now + .seconds(300)
                while await standIn.log.cancelledStreams == 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(await standIn.log.cancelledStreams == 1)
            }
        }
    }

    @Test func eventStreamDecoderHandlesAnySplit() {
        let stream = Array("data: a\r\n\r\n: keep-alive\n\ndata: b\ndata:c\n\nevent: x\nid: 1\n\ndatabase: no\n\ndata: [DONE]\r\rdata: unfinished".utf8)
        for split in [1, 2, 3, 7, stream.count] {
            var decoder = EventStreamDecoder()
            var events: [String] = []
            var index = 0
            while index < stream.count {
                events += decoder.feed(stream[index..<min(index + split, stream.count)])
                index += split
            }
            #expect(events == ["a", "b\nc", "[DONE]"], "split \(split)")
        }
    }

    @Test func retryAfterReadsSecondsAndDates() {
        #expect(UpstreamClient.retryAfterSeconds("12") == 12)
        #expect(UpstreamClient.retryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0)
        #expect(UpstreamClient.retryAfterSeconds("soon") == nil)
    }
}

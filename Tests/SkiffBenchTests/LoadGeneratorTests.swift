import Foundation
import Testing
@testable import SkiffBench
import SkiffJSON

/// The load generator against a real fake server on loopback. Timing assertions are lower bounds
/// that the server's own delays guarantee; counts are exact.
@Suite struct LoadGeneratorTests {
    /// Runs `requests` synthetic requests against `server` and returns the records and report.
    func run(_ server: FakeOpenAIServer, requests: Int = 4, load: LoadPattern = .concurrency(2),
             api: CompletionAPI = .chat, settings: RequestSettings = RequestSettings(model: "fake-model"),
             sharedPrefixTokens: Int = 0) async throws -> ([RequestRecord], BenchReport) {
        let target = try BenchTarget(url: server.baseURL, api: api)
        let prompts = Workload.synthetic(requests: requests, promptTokens: 20, outputTokens: 5,
                                         sharedPrefixTokens: sharedPrefixTokens)
        return try await OpenAIClient.withClient(target: target, connections: 8) { client in
            let generator = LoadGenerator(client: client, settings: settings, load: load)
            var progress: [BenchProgress] = []
            let records = await generator.records(for: prompts) { progress.append($0) }
            #expect(progress.map(\.finished) == Array(1...requests))
            #expect(progress.allSatisfy { $0.total == requests })
            return (records, BenchReport(records: records, target: target, settings: settings, load: load))
        }
    }

    @Test func measuresStreamsAgainstKnownDelays() async throws {
        let answer = FakeAnswer(chunks: 5, firstChunkDelay: .milliseconds(80), chunkInterval: .milliseconds(20),
                                completionTokens: 5, promptTokens: 7)
        try await FakeOpenAIServer.with(answer: { _ in answer }) { server in
            let (records, report) = try await run(server, requests: 4, load: .concurrency(2))
            let metrics = try records.map { try $0.outcome.get() }
            #expect(metrics.count == 4)
            for request in metrics {
                #expect(request.timeToFirstToken >= .milliseconds(80))
                #expect(request.endToEndLatency >= .milliseconds(80 + 4 * 20))
                #expect(request.endToEndLatency >= request.timeToFirstToken)
                #expect(request.interTokenLatencies.count == 4)
                #expect(request.outputTokens == 5)
                #expect(request.outputTokensFromUsage)
                #expect(request.promptTokens == 7)
                let tpot = try #require(request.timePerOutputToken)
                #expect(tpot == (request.endToEndLatency - request.timeToFirstToken) / 4)
            }
            #expect(report.completed == 4)
            #expect(report.failed == 0)
            #expect(report.totalOutputTokens == 20)
            #expect(report.totalInputTokens == 28)
            #expect(report.outputTokensFromUsage == 4)
            #expect(report.interTokenLatency.count == 16)
            #expect(report.timeToFirstToken.count == 4)
            #expect(report.timeToFirstToken.median >= 80)
            #expect(report.endToEndLatency.p99 >= report.endToEndLatency.median)
            // Two workers, four requests of at least 160 ms each: at least two rounds.
            #expect(report.duration >= .milliseconds(320))
            #expect(report.requestThroughput > 0)
            #expect(report.requestThroughput <= 4 / 0.32)
            #expect(report.outputThroughput <= 20 / 0.32)
            #expect(report.errors.isEmpty)
        }
    }

    @Test func usageCountsTokensAndChunksAreTheFallback() async throws {
        try await FakeOpenAIServer.with(answer: { number in
            FakeAnswer(chunks: 3, firstChunkDelay: .milliseconds(5), completionTokens: number == 0 ? 9 : nil)
        }) { server in
            let (records, report) = try await run(server, requests: 2, load: .concurrency(1))
            // With one worker, records finish in the order the server numbered them.
            let withUsage = try records[0].outcome.get()
            #expect(withUsage.outputTokens == 9)
            #expect(withUsage.outputTokensFromUsage)
            #expect(withUsage.timePerOutputToken == (withUsage.endToEndLatency - withUsage.timeToFirstToken) / 8)
            let withoutUsage = try records[1].outcome.get()
            #expect(withoutUsage.outputTokens == 3)
            #expect(!withoutUsage.outputTokensFromUsage)
            #expect(withoutUsage.promptTokens == nil)
            #expect(report.totalOutputTokens == 12)
            #expect(report.outputTokensFromUsage == 1)
        }
    }

    @Test func rejectedRequestsAreCountedAsErrors() async throws {
        try await FakeOpenAIServer.with(answer: { number in
            switch number % 3 {
            case 0: FakeAnswer(mode: .status(429, body: #"{"error":{"message":"too many requests","type":"rate_limit"}}"#))
            case 1: FakeAnswer(mode: .status(503, body: "overloaded, try later"))
            default: FakeAnswer(firstChunkDelay: .milliseconds(5))
            }
        }) { server in
            let (_, report) = try await run(server, requests: 6, load: .concurrency(1))
            #expect(report.completed == 2)
            #expect(report.failed == 4)
            #expect(report.errors.count == 2)
            #expect(report.errors.contains {
                $0 == BenchReport.ErrorCount(error: RequestError(.httpStatus, status: 429, "too many requests"), count: 2)
            })
            #expect(report.errors.contains {
                $0 == BenchReport.ErrorCount(error: RequestError(.httpStatus, status: 503, "overloaded, try later"), count: 2)
            })
            #expect(report.timeToFirstToken.count == 2)
        }
    }

    @Test func aStreamCutShortIsAnError() async throws {
        try await FakeOpenAIServer.with(answer: { _ in FakeAnswer(mode: .closeAfter(chunks: 2), firstChunkDelay: .zero) }) { server in
            let (records, report) = try await run(server, requests: 3, load: .concurrency(2))
            #expect(report.failed == 3)
            #expect(report.completed == 0)
            for record in records {
                guard case .failure(let error) = record.outcome else {
                    Issue.record("a broken stream counted as a success")
                    continue
                }
                #expect(error.kind == .connection || error.kind == .incompleteStream)
            }
            #expect(report.timeToFirstToken == LatencySummary([]))
        }
    }

    @Test func garbageInTheStreamIsAnError() async throws {
        try await FakeOpenAIServer.with(answer: { _ in FakeAnswer(mode: .garbage) }) { server in
            let (records, report) = try await run(server, requests: 2)
            #expect(report.failed == 2)
            for record in records {
                guard case .failure(let error) = record.outcome else {
                    Issue.record("garbage counted as a success")
                    continue
                }
                #expect(error.kind == .malformedStream)
                #expect(error.message.contains("this is not JSON"))
            }
        }
    }

    @Test func eventsSplitAcrossWritesWithCRLFAndKeepAlivesParse() async throws {
        let answer = FakeAnswer(chunks: 6, firstChunkDelay: .milliseconds(5), chunkInterval: .milliseconds(5),
                                completionTokens: nil, splitEvents: true, crlf: true, keepAlives: true)
        try await FakeOpenAIServer.with(answer: { _ in answer }) { server in
            let (records, report) = try await run(server, requests: 3)
            #expect(report.completed == 3)
            for record in records {
                let metrics = try record.outcome.get()
                #expect(metrics.outputTokens == 6)
                #expect(metrics.interTokenLatencies.count == 5)
            }
        }
    }

    @Test func fixedConcurrencyNeverExceedsTheWorkers() async throws {
        // The first three answers wait until three requests are in flight (a minute at most), so the workers
        // meet however slowly each starts; the rest answer as they come.
        try await FakeOpenAIServer.with(answer: { number in
            FakeAnswer(chunks: 4, firstChunkDelay: .milliseconds(20), chunkInterval: .milliseconds(20),
                       holdUntilInFlight: number < 3 ? 3 : nil)
        }) { server in
            let (_, report) = try await run(server, requests: 12, load: .concurrency(3))
            #expect(report.completed == 12)
            #expect(server.requestBodies.count == 12)
            #expect(server.maxInFlight == 3)
        }
    }

    @Test func poissonArrivalsSendEveryRequest() async throws {
        try await FakeOpenAIServer.with(answer: { _ in FakeAnswer(chunks: 2, firstChunkDelay: .milliseconds(5)) }) { server in
            let load = LoadPattern.poisson(requestsPerSecond: 20, seed: 7)
            let before = ContinuousClock.now
            let (records, report) = try await run(server, requests: 6, load: load)
            #expect(report.completed == 6)
            // No request leaves before its arrival time (the k-th sent no earlier than the k-th arrival); how
            // late each leaves depends on the machine, so only these lower bounds are certain.
            let arrivals = try #require(load.arrivalOffsets(count: 6))
            let sent = records.map(\.sentAt).sorted()
            #expect(sent.count == arrivals.count)
            for (sentAt, arrival) in zip(sent, arrivals) {
                #expect(sentAt >= before + arrival)
            }
        }
    }

    @Test func timeoutsAreErrors() async throws {
        // The answers would start after an hour: no machine sees one before the 200 ms timeout.
        try await FakeOpenAIServer.with(answer: { _ in FakeAnswer(firstChunkDelay: .seconds(3600)) }) { server in
            let settings = RequestSettings(model: "fake-model", timeout: .milliseconds(200))
            let (records, report) = try await run(server, requests: 2, settings: settings)
            #expect(report.failed == 2)
            for record in records {
                guard case .failure(let error) = record.outcome else {
                    Issue.record("a request past its timeout counted as a success")
                    continue
                }
                #expect(error.kind == .timeout)
            }
        }
    }

    @Test func chatRequestsAskForAStreamWithUsage() async throws {
        try await FakeOpenAIServer.with(answer: { _ in FakeAnswer(firstChunkDelay: .zero) }) { server in
            _ = try await run(server, requests: 2, sharedPrefixTokens: 40)
            let bodies = server.requestBodies
            #expect(bodies.count == 2)
            for body in bodies {
                #expect(body["model"] as? String == "fake-model")
                #expect(body["stream"] as? Bool == true)
                #expect((body["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
                #expect(body["max_tokens"] as? Int == 5)
                #expect(body["ignore_eos"] == nil)
                #expect(body["min_tokens"] == nil)
                let messages = try #require(body["messages"] as? [[String: Any]])
                #expect(messages.map { $0["role"] as? String } == ["system", "user"])
            }
            let systems = bodies.compactMap { ($0["messages"] as? [[String: Any]])?.first?["content"] as? String }
            let users = bodies.compactMap { ($0["messages"] as? [[String: Any]])?.last?["content"] as? String }
            #expect(systems.count == 2 && systems[0] == systems[1])
            #expect(users.count == 2 && users[0] != users[1])
        }
    }

    @Test func completionsEndpointSendsOnePromptAndReadsText() async throws {
        try await FakeOpenAIServer.with(answer: { _ in FakeAnswer(chunks: 4, firstChunkDelay: .zero) }) { server in
            let settings = RequestSettings(model: "fake-model", temperature: 0.5, ignoreEOS: true)
            let (_, report) = try await run(server, requests: 2, api: .completions, settings: settings)
            #expect(report.completed == 2)
            #expect(report.interTokenLatency.count == 6)
            let body = try #require(server.requestBodies.first)
            #expect(body["prompt"] is String)
            #expect(body["messages"] == nil)
            #expect(body["ignore_eos"] as? Bool == true)
            #expect(body["min_tokens"] as? Int == 5)
            #expect(body["temperature"] as? Double == 0.5)
        }
    }

    @Test func aJSONSchemaIsSentAsResponseFormat() async throws {
        try await FakeOpenAIServer.with(answer: { _ in FakeAnswer(firstChunkDelay: .zero) }) { server in
            let schema: JSONValue = ["type": "object", "properties": ["b": ["type": "integer"], "a": ["type": "string"]]]
            let settings = RequestSettings(model: "fake-model", jsonSchema: schema)
            _ = try await run(server, requests: 1, settings: settings)
            let body = try #require(server.requestBodies.first)
            let format = try #require(body["response_format"] as? [String: Any])
            #expect(format["type"] as? String == "json_schema")
            let sent = try #require((format["json_schema"] as? [String: Any])?["schema"] as? [String: Any])
            #expect(((sent["properties"] as? [String: Any])?["b"] as? [String: Any])?["type"] as? String == "integer")
            #expect(server.requestBodies.count == 1)
        }
    }

    @Test func modelsAreListed() async throws {
        try await FakeOpenAIServer.with { server in
            let target = try BenchTarget(url: server.baseURL + "/")
            let models = try await OpenAIClient.withClient(target: target, connections: 1) { try await $0.models(timeout: .seconds(600)) }
            #expect(models == ["fake-model"])
        }
    }

    @Test func anUnreachableServerIsAClearError() async throws {
        // Port 1 on loopback: nothing listens there.
        let target = try BenchTarget(url: "http://127.0.0.1:1/v1")
        try await OpenAIClient.withClient(target: target, connections: 1) { client in
            await #expect(throws: BenchError.self) { try await client.models(timeout: .seconds(600)) }
            let record = await client.send(BenchPrompt(prompt: "hi", maxTokens: 1), settings: RequestSettings(model: "m"))
            guard case .failure(let error) = record.outcome else {
                Issue.record("a request to a closed port succeeded")
                return
            }
            #expect(error.kind == .connection)
        }
    }

    @Test func theJSONReportHasStableSnakeCaseKeys() async throws {
        try await FakeOpenAIServer.with(answer: { _ in FakeAnswer(firstChunkDelay: .zero) }) { server in
            let (_, report) = try await run(server, requests: 2)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
            var expected: Set<String> = [
                "url", "endpoint", "model", "load", "max_concurrency", "request_rate", "seed", "requests",
                "completed", "failed", "duration", "total_input_tokens", "total_output_tokens",
                "output_tokens_from_usage", "request_throughput", "output_throughput", "total_token_throughput", "errors",
            ]
            for metric in ["ttft", "tpot", "itl", "e2el"] {
                for statistic in ["mean", "median", "std", "p90", "p95", "p99"] { expected.insert("\(statistic)_\(metric)_ms") }
            }
            #expect(Set(object.keys) == expected)
            #expect(object["completed"] as? Int == 2)
            #expect(object["load"] as? String == "concurrency")
            #expect(object["max_concurrency"] as? Int == 2)
            #expect(object["endpoint"] as? String == "chat")
            #expect(report.table().contains("TTFT"))
        }
    }
}

import AsyncHTTPClient
import Foundation
import SkiffEngine
import Testing
@testable import SkiffServer

/// Probes, metrics, cancellation on disconnect, and the graceful drain.
@Suite struct LifecycleAndMetricsTests {
    @Test func probesAfterWarmUp() async throws {
        try await TestServer.with { (server: TestServer) async throws in
            #expect(try await server.get("/health").status == 200)
            #expect(try await server.get("/ready").status == 200)
        }
    }

    @Test func probesAnswerWhileTheModelLoads() async throws {
        let model = try TestModel.require()
        let release = DispatchSemaphore(value: 0)
        // The server owns (and at the end shuts down) what its loader returns: an engine of its own.
        try await TestServer.with(source: .load {
            release.wait()
            return try TestModel.makeEngine(model, maxRunning: 2)
        }, waitingUntilReady: false) { (server: TestServer) async throws in
            #expect(try await server.get("/health").status == 200)
            let ready = try await server.get("/ready")
            #expect(ready.status == 503)
            #expect(ready.body.contains("loading"))
            let models = try await server.get("/v1/models")
            #expect(models.status == 503)
            #expect(models.header("retry-after") != nil)
            #expect((models.json["error"] as? [String: Any])?["code"] as? String == "model_loading")
            #expect(try await server.get("/metrics").body.contains("vllm:num_requests_waiting"))
            release.signal()
            try await server.waitUntilReady()
            #expect(try await server.get("/v1/models").status == 200)
        }
    }

    @Test(.httpLayer, .timeLimit(.minutes(10))) func aLoaderThatFailsStopsTheServer() async throws {
        struct Broken: Error {}
        await #expect(throws: Broken.self) {
            try await TestServer.with(source: .load { throw Broken() }, waitingUntilReady: false) { server in
                // The server stops by itself once the loader has failed; then its port refuses connections.
                for await _ in server.stopped {}
                #expect(server.refusesConnections())
            }
        }
    }

    @Test(.httpLayer) func metricsExpositionHasVLLMNames() async throws {
        // An engine of its own: step sizes are drained from the engine by whichever server scrapes it.
        let engine = try TestModel.makeEngine(try TestModel.require(), maxRunning: 2, maxWaiting: 2)
        defer { engine.shutdown() }
        try await TestServer.with(engine: engine) { (server: TestServer) async throws in
            _ = try await server.post("/v1/completions", ["prompt": "Hello", "max_tokens": 3])
            let reply = try await server.get("/metrics")
            #expect(reply.status == 200)
            #expect(reply.header("content-type")?.hasPrefix("text/plain") == true)
            let text = reply.body
            for (name, type) in [
                ("vllm:num_requests_waiting", "gauge"), ("vllm:num_requests_running", "gauge"),
                ("vllm:kv_cache_usage_perc", "gauge"), ("vllm:cache_config_info", "gauge"),
                ("vllm:prompt_tokens_total", "counter"), ("vllm:generation_tokens_total", "counter"),
                ("vllm:prefix_cache_queries_total", "counter"), ("vllm:prefix_cache_hits_total", "counter"),
                ("vllm:num_preemptions_total", "counter"), ("vllm:request_success_total", "counter"),
                ("vllm:time_to_first_token_seconds", "histogram"), ("vllm:inter_token_latency_seconds", "histogram"),
                ("vllm:e2e_request_latency_seconds", "histogram"), ("vllm:iteration_tokens_total", "histogram"),
                ("skiff:kv_cache_blocks", "gauge"), ("skiff:kv_cache_bytes_per_token", "gauge"), ("skiff:kv_cache_bytes", "gauge"),
                ("skiff:kv_cache_full_context_sequences", "gauge"), ("skiff:engine_step_duration_seconds", "histogram"),
            ] {
                #expect(text.contains("# HELP \(name) "), "\(name)")
                #expect(text.contains("# TYPE \(name) \(type)\n"), "\(name)")
            }
            #expect(text.contains("vllm:cache_config_info{model_name=\"\(TestServer.servedName)\",block_size=\"16\",num_gpu_blocks=\""))
            #expect(try await server.metric("vllm:prompt_tokens_total") ?? 0 > 0)
            #expect(try await server.metric("vllm:generation_tokens_total") ?? 0 >= 3)
            #expect(try await server.metric("vllm:request_success_total", labels: "finished_reason=\"length\"") ?? 0 >= 1)
            // Histograms: cumulative buckets ending in +Inf equal to _count.
            let ttft = text.split(separator: "\n").filter { $0.hasPrefix("vllm:time_to_first_token_seconds_bucket") }
            let counts = ttft.compactMap { Double($0.split(separator: " ").last ?? "") }
            #expect(counts == counts.sorted())
            #expect(ttft.last?.contains("le=\"+Inf\"") == true)
            #expect(counts.last == (try await server.metric("vllm:time_to_first_token_seconds_count")).map { _ in counts.last! })
            #expect(try await server.metric("vllm:iteration_tokens_total_count") ?? 0 >= 1)
            // Every step booked has a duration: as many durations as sizes, and time was spent.
            #expect(try await server.metric("skiff:engine_step_duration_seconds_count") == server.metric("vllm:iteration_tokens_total_count"))
            #expect(try await server.metric("skiff:engine_step_duration_seconds_sum") ?? 0 > 0)
        }
    }

    @Test func disconnectCancelsTheRequestAndFreesBlocks() async throws {
        let model = try TestModel.require()
        let engine = try TestModel.makeEngine(model, maxRunning: 4, maxWaiting: 4)
        defer { engine.shutdown() }
        try await TestServer.with(engine: engine) { (server: TestServer) async throws in
            let baselineBlocks = engine.currentStatistics.usedBlocks
            let reading = Task {
                let response = try await server.openStream("/v1/chat/completions", [
                    "messages": [["role": "user", "content": "Write a long story about the sea."]], "max_tokens": 800, "stream": true,
                ])
                var received = 0
                for try await _ in response.body {
                    received += 1
                    if received >= 3 { break }
                }
                return received
            }
            _ = try await reading.value
            #expect(try await server.metric("vllm:num_requests_running").map { $0 >= 0 } == true)
            // The client is gone: running and used blocks return to where they were.
            var running = 1.0
            var usage = 1.0
            _ = try await eventually {
                running = try await server.metric("vllm:num_requests_running") ?? -1
                usage = try await server.metric("vllm:kv_cache_usage_perc") ?? -1
                return running == 0 && engine.currentStatistics.usedBlocks == baselineBlocks
            }
            #expect(running == 0)
            #expect(usage == 0)
            #expect(engine.currentStatistics.usedBlocks == baselineBlocks)
            #expect(try await server.metric("vllm:request_success_total", labels: "finished_reason=\"abort\"") == 1)
            #expect((try await server.metric("vllm:generation_tokens_total") ?? 0) < 800)
        }
    }

    @Test func disconnectCancelsAWholeAnswerToo() async throws {
        let model = try TestModel.require()
        let engine = try TestModel.makeEngine(model, maxRunning: 4, maxWaiting: 4)
        defer { engine.shutdown() }
        try await TestServer.with(engine: engine) { (server: TestServer) async throws in
            let baselineBlocks = engine.currentStatistics.usedBlocks
            let whole = Task {
                try await server.post("/v1/completions", ["prompt": "Once upon a time", "max_tokens": 1500, "ignore_eos": true])
            }
            // Once the request runs (a long answer: it still runs when the client gives up), the client gives
            // up (its HTTP client closes the connection): the engine ends the request.
            #expect(try await eventually { (try await server.metric("vllm:num_requests_running") ?? 0) > 0 })
            whole.cancel()
            _ = try? await whole.value
            var running = 1.0
            _ = try await eventually {
                running = try await server.metric("vllm:num_requests_running") ?? -1
                return running == 0 && engine.currentStatistics.usedBlocks == baselineBlocks
            }
            #expect(running == 0)
            #expect(engine.currentStatistics.usedBlocks == baselineBlocks)
            #expect(try await server.metric("vllm:request_success_total", labels: "finished_reason=\"abort\"") == 1)
            #expect((try await server.metric("vllm:generation_tokens_total") ?? 0) < 1500)
            // Whole answers close their connection, and say so, so pooled keep-alive clients carry on.
            for _ in 0 ..< 3 {
                let after = try await server.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2])
                #expect(after.status == 200)
                #expect(after.header("connection") == "close")
            }
            let refused = try await server.post("/v1/completions", ["prompt": [999_999], "max_tokens": 2])
            #expect(refused.status == 400)
            #expect(refused.header("connection") == "close")
        }
    }

    @Test func gracefulShutdownDrainsInFlightAndRefusesNew() async throws {
        let engine = try TestModel.engine()
        // A grace period no machine's answer outlasts: the drain always waits for the answer to finish.
        try await TestServer.with(engine: engine, configure: { $0.gracePeriod = .seconds(600) }) { (server: TestServer) async throws in
            // 120 tokens on the CPU (30 on a software GPU, whose steps are slower): the answer runs for many steps after
            // its first chunk, while the drain starts and the two probes below are answered.
            let inFlight = try await server.openStream("/v1/completions", [
                "prompt": "The story begins", "max_tokens": TestModel.onCPU ? 120 : 30, "ignore_eos": true, "stream": true,
            ])
            var chunks = inFlight.body.makeAsyncIterator()
            // Its first chunk has arrived: the request is in flight. Then the drain starts.
            var body = try await chunks.next().map { String(buffer: $0) } ?? ""
            let shutdown = Task { await server.group.triggerGracefulShutdown() }
            #expect(try await eventually { try await server.get("/ready").status == 503 })
            let refused = try await server.post("/v1/completions", ["prompt": "x", "max_tokens": 1])
            #expect(refused.status == 503)
            #expect(refused.error?["code"] as? String == "shutting_down")
            while let chunk = try await chunks.next() { body += String(buffer: chunk) }
            #expect(inFlight.status == .ok)
            let events = EventStream(body)
            #expect(events.payloads.last == "[DONE]")
            // The whole answer, not one the drain cut off.
            #expect(events.chunks.compactMap { $0.choice?["finish_reason"] as? String }.last == "length")
            await shutdown.value
        }
    }
}

/// Pieces tested without HTTP.
@Suite struct ServerUnitTests {
    @Test(.httpLayer) func apiKeysCompareWholeKeys() {
        let keys = APIKeys(["secret", "other"])
        #expect(keys.accepts(authorization: "Bearer secret"))
        #expect(keys.accepts(authorization: "bearer other"))
        #expect(!keys.accepts(authorization: "Bearer secre"))
        #expect(!keys.accepts(authorization: "Bearer secrets"))
        #expect(!keys.accepts(authorization: "secret"))
        #expect(!keys.accepts(authorization: nil))
        #expect(!APIKeys([]).isEnabled)
    }

    @Test(.httpLayer) func histogramBucketsAndExposition() throws {
        let metrics = ServerMetrics(modelName: "m\"x")
        metrics.observeTimeToFirstToken(0.003)
        metrics.observeTimeToFirstToken(0.5)
        metrics.observeTimeToFirstToken(10_000)
        let text = metrics.exposition(engine: try TestModel.engine())
        #expect(text.contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\\\"x\",le=\"0.001\"} 0\n"))
        #expect(text.contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\\\"x\",le=\"0.005\"} 1\n"))
        #expect(text.contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\\\"x\",le=\"2560.0\"} 2\n"))
        #expect(text.contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\\\"x\",le=\"+Inf\"} 3\n"))
        #expect(text.contains("vllm:time_to_first_token_seconds_count{model_name=\"m\\\"x\"} 3\n"))
    }
}

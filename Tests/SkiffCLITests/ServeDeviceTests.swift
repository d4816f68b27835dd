import Foundation
import Testing

/// `skiff serve --device vulkan` on the machine's Vulkan device (lavapipe under `make test`): the KV cache takes
/// what `--gpu-memory-utilization` of the device's memory leaves after the weights and the scratch, as its
/// start-up log says and as `skiff plan` computes it for a GPU of that memory, and 16 concurrent streams give
/// exactly the tokens each gives alone.
@Suite struct ServeDeviceTests {
    let cli = CommandLineTests()

    static let prompts = (0 ..< 16).map { "Item \($0 + 1) on the list of things to bring to the beach is" }

    @Test func sixteenConcurrentStreamsGiveTheTokensEachGivesAlone() async throws {
        let server = try ServeProcess([
            "serve", "--port", "0", "--device", "vulkan", "--gpu-memory-utilization", "0.5", "--ctx", "256",
            "--max-step-tokens", "128", "--max-running", "16", "--grace-period", "300",
        ])
        defer { server.kill() }
        let port = try await server.listeningPort()
        // Loading, uploading and the warm-up generation on a software device: a deadline only for a hang.
        let ready = try await ServeCommandTests.eventually(within: .seconds(600)) {
            (try? await ServeCommandTests.get(port, "/ready"))?.status == 200
        }
        #expect(ready, "\(server.standardError)")

        // The cache is the device budget in whole blocks, as logged.
        let log = server.standardError
        let line = try #require(log.split(separator: "\n").first { $0.contains("device memory") }, "\(log)")
        let budgetText = try #require(line.range(of: #"cache_budget_bytes=\d+"#, options: .regularExpression).map { line[$0].split(separator: "=")[1] })
        let budget = try #require(Double(budgetText))
        let metrics = try await ServeCommandTests.get(port, "/metrics").body
        let cacheBytes = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("skiff:kv_cache_bytes{") }
            .flatMap { Double($0.split(separator: " ").last ?? "") })
        let blockBytes = 16 * 23040.0
        #expect(cacheBytes <= budget && cacheBytes > budget - blockBytes && cacheBytes.truncatingRemainder(dividingBy: blockBytes) == 0)

        // `skiff plan` for a GPU with this device's memory, at the server's settings, gives the cache the same bytes.
        let memoryText = try #require(line.range(of: #"memory_bytes=\d+"#, options: .regularExpression).map { line[$0].split(separator: "=")[1] })
        let catalog = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-device-catalog-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: catalog) }
        try Data("""
            {"gpus": [{"name": "this-device", "memory_bytes": \(memoryText), "memory_bandwidth_gbps": 100, "bf16_tflops": 1}], "instances": []}
            """.utf8).write(to: catalog)
        let planned = try cli.skiff(["plan", "--catalog", catalog.path, "--gpu", "this-device", "--gpu-memory-utilization", "0.5",
                                     "--context", "256", "--max-step-tokens", "128", "--max-running", "16", "--json"])
        #expect(planned.status == 0, "\(planned.stderr)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
        #expect(plan["engine"] as? String == "skiff")
        #expect((plan["cache_budget_bytes"] as? NSNumber)?.doubleValue == budget, "plan \(plan), log \(line)")
        #expect((plan["cache_blocks"] as? NSNumber)?.doubleValue == cacheBytes / blockBytes, "plan \(plan)")

        func complete(_ prompt: String) async throws -> String {
            let body = try JSONSerialization.data(withJSONObject: ["prompt": prompt, "max_tokens": 2, "temperature": 0, "ignore_eos": true])
            let answer = try await ServeCommandTests.post(port, "/v1/completions", String(decoding: body, as: UTF8.self))
            #expect(answer.status == 200, "\(answer.body)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
            let choices = try #require(object["choices"] as? [[String: Any]])
            return try #require(choices.first?["text"] as? String)
        }
        var alone: [String] = []
        for prompt in Self.prompts { alone.append(try await complete(prompt)) }
        let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, prompt) in Self.prompts.enumerated() { group.addTask { (i, try await complete(prompt)) } }
            var answers = [String](repeating: "", count: Self.prompts.count)
            for try await (i, text) in group { answers[i] = text }
            return answers
        }
        #expect(together == alone)
        server.terminate()
        #expect(try await server.exitStatus() == 0, "\(server.standardError)")
    }
}

import Foundation
import Testing

/// `skiff serve --device vulkan` on the machine's Vulkan device (lavapipe under `make test`): the KV cache takes
/// what `--gpu-memory-utilization` of the device's memory leaves after the weights and the scratch, as its
/// start-up log says, and 16 concurrent streams give exactly the tokens each gives alone.
@Suite struct ServeDeviceTests {
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

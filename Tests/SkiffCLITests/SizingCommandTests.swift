import Foundation
import Testing

/// `skiff plan` and `skiff simulate` as a user runs them.
@Suite struct SizingCommandTests {
    let cli = CommandLineTests()

    @Test func planPrintsStableJSONForTheDefaultModel() throws {
        let result = try cli.skiff(["plan", "--gpu", "cpu", "--memory-bytes", "4294967296", "--context", "4096", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["kv_cache_bytes_per_token"] as? Int == 23040)
        #expect(object["weights_bytes"] as? Int == 96_576_768)
        #expect((object["max_concurrency"] as? Int ?? 0) > 0)
    }

    @Test func unknownGPUIsAnActionableError() throws {
        let result = try cli.skiff(["plan", "--gpu", "b300"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown GPU 'b300'; known: a10g, l4"))
    }

    @Test func simulateAnHourOfOneReplica() throws {
        let svg = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-sim-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: svg) }
        let result = try cli.skiff(["simulate", "--gpu", "cpu", "--memory-bytes", "4294967296", "--context", "2048", "--rate", "1",
                                    "--replicas", "1", "--duration", "600", "--prompt-tokens", "100,300", "--output-tokens", "50",
                                    "--svg", svg.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("0 refused (429)"))
        #expect(try String(contentsOf: svg, encoding: .utf8).hasPrefix("<svg"))
    }
}

import Foundation
import PythonTestSupport
import Testing

/// `skiff convert` on a Llamba checkpoint in the published layout (random weights, from the converter tests'
/// script), then `skiff serve` on the file: concurrent streams, and a repeated prompt served from the
/// state snapshots of the prefix cache with the same answer.
@Suite struct ConvertCommandTests {
    let cli = CommandLineTests()

    @Test func convertedLlambaServesConcurrentStreamsWithPrefixCaching() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-cli-llamba-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = PythonTools.packageRoot.appendingPathComponent("Tests/SkiffConvertTests/Python/llamba_reference.py")
        try await PythonTools.run(try await PythonTools.binDirectory().appendingPathComponent("python").path,
                                  [script.path, "make", directory.path, "bf16-tied"])
        let output = directory.appendingPathComponent("llamba-q8.gguf").path
        let convert = try cli.skiff(["convert", directory.path, "--output", output, "--type", "q8_0"])
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout == output + "\n")
        #expect(convert.stderr.contains("[ 1/24] token_embd.weight Q8_0 [256, 512]"))
        #expect(convert.stderr.contains("wrote \(output)"))

        let refused = try cli.skiff(["convert", directory.path + "-missing"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("config.json is missing or unreadable"))

        let plan = try cli.skiff(["plan", "-m", output, "--gpu", "cpu", "--json"])
        let planned = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let server = try ServeProcess(["serve", "-m", output, "--port", "0", "--threads", "1", "--max-running", "12", "--state-snapshots", "5"])
        defer { server.kill() }
        let port = try await server.listeningPort()
        #expect(try await ServeCommandTests.eventually(within: .seconds(120)) { (try? await ServeCommandTests.get(port, "/ready"))?.status == 200 })
        // The state the service holds is the plan's, per sequence, for 12 running sequences and 5 snapshots.
        let metrics = try await ServeCommandTests.get(port, "/metrics").body.split(separator: "\n")
        let stateBytes = metrics.first { $0.hasPrefix("skiff:state_bytes_per_sequence{") }
        #expect(stateBytes?.hasSuffix("} \(try #require(planned["state_bytes_per_sequence"] as? Int))") == true, "\(stateBytes ?? "")")
        let slots = metrics.first { $0.hasPrefix("skiff:state_slots{") }
        #expect(slots?.hasSuffix(",snapshots=\"5\"} 17") == true, "\(slots ?? "")")
        // Eight streams at once whose prompts share a long beginning, each 24 greedy tokens.
        let shared = String(repeating: "hello world, ", count: 30)
        let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0 ..< 8 {
                group.addTask {
                    let body = #"{"prompt": "\#(shared)\#(i)", "max_tokens": 24, "temperature": 0, "ignore_eos": true}"#
                    let answer = try await ServeCommandTests.post(port, "/v1/completions", body)
                    #expect(answer.status == 200, "\(answer.body)")
                    #expect(answer.body.contains(#""completion_tokens":24"#))
                    return (i, answer.body)
                }
            }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        func text(_ body: String) throws -> String {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            return try #require(((json["choices"] as? [[String: Any]])?.first?["text"]) as? String)
        }
        let hitsBefore = try await Self.prefixCacheHits(port)
        let again = try await ServeCommandTests.post(port, "/v1/completions", #"{"prompt": "\#(shared)3", "max_tokens": 24, "temperature": 0, "ignore_eos": true}"#)
        #expect(try text(again.body) == (try text(try #require(answers[3]))))
        #expect(try await Self.prefixCacheHits(port) > hitsBefore, "the repeated prompt starts from a stored state")
        server.terminate()
        #expect(try await server.exitStatus() == 0)
    }

    static func prefixCacheHits(_ port: Int) async throws -> Double {
        let metrics = try await ServeCommandTests.get(port, "/metrics").body
        let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("vllm:prefix_cache_hits_total{") })
        return try #require(Double(line.split(separator: " ").last ?? ""))
    }
}

import Foundation
import PythonTestSupport
import Testing

/// The server against tools written by others: the official OpenAI Python client (plain, structured output, tool
/// calls), and a schemathesis fuzz run of `docs/openapi.yaml` (no server error, every answer as the document says).
/// One at a time: each drives the engine hard, and the suite's other tests share the machine.
@Suite(.serialized) struct ClientCompatibilityTests {
    static let key = "sk-skiff-test-key"
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Python")

    @Test func officialOpenAIPythonClient() async throws {
        let bin = try await PythonTools.binDirectory()
        try await TestServer.with(configure: { $0.apiKeys = [Self.key] }) { (server: TestServer) async throws in
            let output = try await PythonTools.run(bin.appendingPathComponent("python").path, [
                Self.scripts.appendingPathComponent("openai_client_check.py").path,
                "http://127.0.0.1:\(server.port)/v1", Self.key, TestServer.servedName, "\(TestModel.requestTimeout)",
            ])
            #expect(output.contains("ok"))
        }
    }

    /// The official client's parse() with Pydantic models, and schemas × prompts at temperature 0.8 validated with the
    /// jsonschema package (Python/structured_output_check.py).
    @Test(.cpuPassOnly("constraints act on the logits after the forward pass, the same on every device; its thousands of tokens would take long on a software device"))
    func officialClientParsesAndEveryFinishedAnswerValidates() async throws {
        let bin = try await PythonTools.binDirectory()
        let script = PythonTools.packageRoot.appendingPathComponent("Tests/SkiffServerTests/Python/structured_output_check.py")
        try await TestServer.with { (server: TestServer) async throws in
            let output = try await PythonTools.run(bin.appendingPathComponent("python").path, [
                // Answers of up to 250 tokens queue behind the other tests' on the shared engine: a deadline for hangs only.
                script.path, "http://127.0.0.1:\(server.port)/v1", "none", TestServer.servedName, "\(TestModel.requestTimeout * 5)",
            ], timeout: .seconds(TestModel.requestTimeout * 10))
            #expect(output.contains("ok"), "\(output)")
            print("structured output check: \(output.split(separator: "\n").first ?? "")")
        }
    }

    /// The official OpenAI client: a tool loop and a streamed call reassembled (Python/tool_calls_check.py).
    @Test(.cpuPassOnly("tool calls are read from the text after the forward pass, the same on every device"))
    func officialClientToolLoopAndStreamedCalls() async throws {
        let bin = try await PythonTools.binDirectory()
        let script = PythonTools.packageRoot.appendingPathComponent("Tests/SkiffServerTests/Python/tool_calls_check.py")
        try await TestServer.with { (server: TestServer) async throws in
            let output = try await PythonTools.run(bin.appendingPathComponent("python").path, [
                script.path, "http://127.0.0.1:\(server.port)/v1", "none", TestServer.servedName, "\(TestModel.requestTimeout * 3)",
            ])
            #expect(output.contains("ok"), "\(output)")
        }
    }

    @Test(.httpLayer) func fuzzingTheDocumentedAPIFindsNoFault() async throws {
        let bin = try await PythonTools.binDirectory()
        // Token ids are only valid below this model's vocabulary size, which the general document cannot state.
        let vocabulary = try TestModel.require().tokenizer.vocabularySize
        let general = try String(contentsOf: PythonTools.packageRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let bound = "TokenID: {type: integer, minimum: 0, maximum: 2147483647"
        // Nor can it state that a request names one output constraint, or which tool_choice its tools allow: the fuzzer
        // sends response_format, and the other constraint fields and the tool fields are left out of its copy of the
        // document (StructuredOutputTests and ToolCallingTests cover them and their refusals).
        var languages: [(String, String)] = []
        for field in ["guided_json", "guided_regex", "guided_choice", "guided_grammar", "structured_outputs", "grammar", "json_schema",
                      "tools", "tool_choice", "parallel_tool_calls"] {
            let lines = general.split(separator: "\n").filter { $0.drop { $0 == " " }.hasPrefix("\(field): {") }
            guard !lines.isEmpty else {
                Issue.record("docs/openapi.yaml has no one-line \(field)")
                return
            }
            for line in lines { languages.append((String(line) + "\n", "")) }
        }
        var patched = general.replacingOccurrences(of: bound, with: "TokenID: {type: integer, minimum: 0, maximum: \(vocabulary - 1)")
        try #require(general.contains(bound))
        for (original, examples) in languages {
            try #require(patched.contains(original), "docs/openapi.yaml no longer has \(original)")
            patched = patched.replacingOccurrences(of: original, with: examples)
        }
        let document = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-openapi-\(UUID().uuidString).yaml")
        try patched.write(to: document, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: document) }
        // The model's whole context, so that the long prompts a fuzzer writes are answered, not refused.
        let engine = try TestModel.makeEngine(TestModel.require(), maxRunning: 2, contextLength: 8192)
        defer { engine.shutdown() }
        try await TestServer.with(engine: engine, configure: {
            $0.apiKeys = [Self.key]
            $0.maxTokensCap = 4
        }) { (server: TestServer) async throws in
            let report = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-fuzz-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: report) }
            do {
                try await PythonTools.run(bin.appendingPathComponent("schemathesis").path, [
                    "run", document.path, "--url", "http://127.0.0.1:\(server.port)", "--checks", "all",
                    "--header", "Authorization: Bearer \(Self.key)", "--max-examples", "40", "--seed", "20261125",
                    "--no-color", "--report-dir", report.path,
                    // Its own limit is 10 s a request; a long fuzzed prompt on a busy machine may take longer.
                    "--request-timeout", "120",
                ], timeout: .seconds(900))
            } catch let failure as PythonTools.Failure {
                Issue.record("schemathesis found faults:\n\(failure.description.suffix(6000))")
            }
        }
    }
}

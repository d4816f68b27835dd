import Foundation
import Testing

/// The `skiff` executable, run as a user runs it, on the default model.
@Suite(.serialized) struct CommandLineTests {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `skiff` binary beside this test bundle in the build directory.
    static var executable: URL {
        var directory = Bundle.main.bundleURL
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("skiff")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: "skiff")
    }

    func skiff(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) throws -> Output {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try inPipe.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func runAnswersAPromptGreedily() throws {
        let result = try skiff(["run", "--temperature", "0", "--max-tokens", "12", "--threads", "2",
                                "Explain in one sentence what a CPU does."])
        #expect(result.status == 0, "\(result.stderr)")
        // llama.cpp's greedy answer to the same chat starts the same way (Fixtures of SkiffEngineTests).
        #expect(result.stdout.hasPrefix("A CPU (Central Processing Unit) is the brain"), "\(result.stdout)")
    }

    @Test func interactiveChatKeepsTheConversation() throws {
        let result = try skiff(["run", "--temperature", "0", "--max-tokens", "8", "--threads", "2", "--verbose"],
                               input: "What is 12 times 12?\nAnd plus one?\n/exit\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n", omittingEmptySubsequences: true).count >= 2)
        // The second answer reuses the cached first exchange.
        #expect(result.stderr.contains("reused"))
        let reused = result.stderr.split(separator: "\n").filter { $0.contains("reused") }
        #expect(reused.count == 2)
        #expect(reused.last.map { !$0.contains("(0 reused)") } == true, "\(reused)")
    }

    @Test func benchEngineReportsJSON() throws {
        let result = try skiff(["bench-engine", "--threads", "2", "--prompt-tokens", "16", "--gen-tokens", "4",
                                "--repetitions", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect((object?["pp16_tokens_per_second"] as? Double).map { $0 > 0 } == true)
        #expect((object?["tg4_tokens_per_second"] as? Double).map { $0 > 0 } == true)
        #expect((object?["weights_bytes"] as? Int).map { $0 > 90_000_000 && $0 < 110_000_000 } == true)
    }

    /// Generation timed at a depth: the context computed first fits, and a depth past the model's context is
    /// refused by name.
    @Test func benchEngineTimesGenerationAtADepth() throws {
        let result = try skiff(["bench-engine", "--threads", "2", "--prompt-tokens", "16", "--gen-tokens", "4", "--depth", "100",
                                "--repetitions", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["depth"] as? Int == 100)
        #expect((object?["tg4_tokens_per_second"] as? Double).map { $0 > 0 } == true)
        let tooDeep = try skiff(["bench-engine", "--threads", "2", "--prompt-tokens", "16", "--gen-tokens", "4", "--depth", "9000",
                                 "--repetitions", "1"])
        #expect(tooDeep.status != 0)
        #expect(tooDeep.stderr.contains("--depth plus --gen-tokens"), "\(tooDeep.stderr)")
    }

    /// The cost of structured output for the default model's vocabulary: the sample answer replays under its schema, and an
    /// answer that leaves its schema is named.
    @Test func benchGrammarReplaysAnAnswerUnderItsSchema() throws {
        let result = try skiff(["bench-grammar", "--repetitions", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["vocabulary"] as? Int == 49152)
        #expect((object?["answer_tokens"] as? Int).map { $0 > 40 } == true)
        #expect((object?["node_masks"] as? Int).map { $0 > 0 } == true)
        #expect((object?["cached_mask_us_mean"] as? Double).map { $0 > 0 } == true)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-bench-grammar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try #"{"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}, "required": ["n"]}"#
            .write(to: directory.appendingPathComponent("schema.json"), atomically: true, encoding: .utf8)
        try #"{"n": 12}"#.write(to: directory.appendingPathComponent("answer.json"), atomically: true, encoding: .utf8)
        let outside = try skiff(["bench-grammar", "--schema", directory.appendingPathComponent("schema.json").path,
                                 "--answer", directory.appendingPathComponent("answer.json").path])
        #expect(outside.status != 0)
        #expect(outside.stderr.contains("leaves the schema"), "\(outside.stderr)")
    }

    @Test func perplexityOnAShortTextFailsClearly() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-short-\(UUID().uuidString).txt")
        try "Just a few words.".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try skiff(["perplexity", "-f", file.path, "--ctx", "64"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("needs at least 128"), "\(result.stderr)")
    }

    @Test func unknownModelFailsWithTheStoreContents() throws {
        let result = try skiff(["run", "-m", "no-such-model", "hi"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no model 'no-such-model'"), "\(result.stderr)")
    }

    @Test func badOptionsAreRejected() throws {
        let result = try skiff(["run", "--top-p", "0", "hi"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--top-p"), "\(result.stderr)")
        // skiff serve's sampling defaults, as flags and as variables, before any model is loaded.
        let flag = try skiff(["serve", "--port", "0", "--temperature", "3"])
        #expect(flag.status != 0)
        #expect(flag.stderr.contains("--temperature must be between 0 and 2"), "\(flag.stderr)")
        let variable = try skiff(["serve", "--port", "0"], environment: ["SKIFF_MIN_P": "1.5"])
        #expect(variable.status != 0)
        #expect(variable.stderr.contains("--min-p must be in [0, 1]"), "\(variable.stderr)")
        let help = try skiff(["serve", "--help"])
        for option in ["--temperature", "--top-k", "--top-p", "--min-p", "SKIFF_TEMPERATURE", "sampling_defaults"] {
            #expect(help.stdout.contains(option), "\(option)")
        }
    }
}

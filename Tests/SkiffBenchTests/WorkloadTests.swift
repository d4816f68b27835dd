import Foundation
import Testing
@testable import SkiffBench

@Suite struct WorkloadTests {
    @Test func promptFileLinesBecomePrompts() throws {
        let text = """
            {"prompt": "Hello there", "max_tokens": 16}

            {"prompt": "Second", "system": "Be brief."}\r
            """
        let prompts = try PromptFile.parse(text, defaultMaxTokens: 64)
        #expect(prompts == [
            BenchPrompt(prompt: "Hello there", maxTokens: 16),
            BenchPrompt(system: "Be brief.", prompt: "Second", maxTokens: 64),
        ])
    }

    @Test func badLinesAreReportedByNumber() {
        let text = """
            {"prompt": "fine"}
            not json
            ["a list"]
            {"max_tokens": 5}
            {"prompt": "x", "max_tokens": 2.5}
            {"prompt": "x", "max_tokens": -1}
            {"prompt": 7}
            """
        do {
            _ = try PromptFile.parse(text, defaultMaxTokens: 8, name: "p.jsonl")
            Issue.record("a file with bad lines parsed")
        } catch {
            #expect(error.code == .invalidPromptFile)
            #expect(error.message.hasPrefix("p.jsonl has 6 bad lines"))
            #expect(error.message.contains("line 2: not valid JSON"))
            #expect(error.message.contains("line 3: not a JSON object"))
            #expect(error.message.contains(#"line 4: "prompt" is missing"#))
            #expect(error.message.contains(#"line 5: "max_tokens" must be a positive integer"#))
            #expect(error.message.contains(#"line 6: "max_tokens" must be a positive integer"#))
            #expect(!error.message.contains("line 7"))
            #expect(error.message.hasSuffix("and 1 more"))
        }
    }

    @Test func anEmptyFileAndAMissingFileAreErrors() {
        #expect(throws: BenchError.self) { try PromptFile.parse("\n\n", defaultMaxTokens: 8) }
        do {
            _ = try PromptFile.load(path: "/nonexistent/prompts.jsonl", defaultMaxTokens: 8)
            Issue.record("a missing file loaded")
        } catch {
            #expect(error.code == .unreadablePromptFile)
            #expect(error.message.contains("/nonexistent/prompts.jsonl"))
        }
    }

    @Test func filePromptsCycleToTheRequestCount() {
        let prompts = [BenchPrompt(prompt: "a", maxTokens: 1), BenchPrompt(prompt: "b", maxTokens: 2)]
        let workload = Workload.cycling(prompts, requests: 5, sharedPrefixTokens: 10)
        #expect(workload.map(\.prompt) == ["a", "b", "a", "b", "a"])
        #expect(Set(workload.compactMap(\.system)).count == 1)
        #expect(Workload.cycling(prompts, requests: 1).map(\.system) == [nil])
    }

    @Test(arguments: [1, 10, 100, 1000])
    func syntheticPromptsHaveTheEstimatedWordCount(tokens: Int) {
        let text = SyntheticText.text(tokens: tokens, variant: 3)
        let words = text.split(separator: " ").count
        #expect(words == max(1, Int((Double(tokens) * 0.75).rounded())))
        #expect(text == SyntheticText.text(tokens: tokens, variant: 3))
        #expect(text.hasSuffix("."))
    }

    @Test func syntheticPromptsDifferButShareTheirPrefix() {
        let workload = Workload.synthetic(requests: 50, promptTokens: 30, outputTokens: 8, sharedPrefixTokens: 100)
        #expect(workload.count == 50)
        #expect(Set(workload.map(\.prompt)).count == 50)
        #expect(Set(workload.map { $0.prompt.split(separator: " ").first }).count > 10)
        #expect(Set(workload.compactMap(\.system)).count == 1)
        #expect(workload.allSatisfy { $0.maxTokens == 8 })
        #expect(Workload.synthetic(requests: 2, promptTokens: 5, outputTokens: 1).allSatisfy { $0.system == nil })
        #expect(SyntheticText.text(tokens: 0, variant: 1).isEmpty)
    }

    @Test func targetURLsAreChecked() throws {
        #expect(try BenchTarget(url: "http://127.0.0.1:8080/v1/").baseURL == "http://127.0.0.1:8080/v1")
        #expect(throws: BenchError.self) { try BenchTarget(url: "127.0.0.1:8080") }
        #expect(throws: BenchError.self) { try BenchTarget(url: "ftp://host/v1") }
    }
}

import ArgumentParser
import Foundation
import SkiffBench
import SkiffJSON

/// `skiff bench`: load an OpenAI-compatible server and measure TTFT, TPOT, ITL and throughput.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load an OpenAI-compatible server (skiff serve, llama-server, vLLM) and measure latency and throughput.",
        discussion: """
            Sends --requests streamed requests, either from --concurrency workers (each sends its next \
            request when the previous one finishes) or as Poisson arrivals at --request-rate per second \
            (seeded, so --seed gives the same schedule every time). Every request asks for \
            "stream": true with "stream_options": {"include_usage": true}.

            Prompts are synthetic, about --prompt-tokens tokens of English-like text (estimated at 0.75 \
            words per token; the report shows the server's own count from usage, chat template \
            included), or come from --prompts, a JSON Lines file with one {"prompt": "…", \
            "max_tokens": 64, "system": "…"} per line (max_tokens and system optional), cycled to \
            --requests. --shared-prefix-tokens gives every request the same system prompt, to measure a \
            prefix cache. Models may stop early; --ignore-eos sends "ignore_eos": true and \
            "min_tokens" for exactly --output-tokens tokens (llama.cpp and vLLM honour it; OpenAI \
            ignores it).

            Definitions follow vllm bench serve: TTFT is send to the first chunk with text; ITL every \
            gap between chunks with text (a chunk may carry several tokens); TPOT (E2EL - TTFT) / \
            (output tokens - 1) per request; E2EL send to [DONE]; throughput divides by the time from \
            the first send to the last finish. Latencies cover successful requests. Failures (HTTP \
            errors such as 429 or 503, broken or malformed streams, timeouts) are counted and listed.

            --json prints one object with these keys: url, endpoint, model, load ("concurrency" or \
            "poisson"), max_concurrency, request_rate, seed (null where they do not apply), requests, \
            completed, failed, duration (seconds), total_input_tokens, total_output_tokens, \
            output_tokens_from_usage, request_throughput (req/s), output_throughput and \
            total_token_throughput (tokens/s), mean_X_ms, median_X_ms, std_X_ms, p90_X_ms, p95_X_ms and p99_X_ms \
            for X in ttft, tpot, itl and e2el, and errors: [{kind, status, message, count}]. \
            Progress goes to standard error. The exit status is 1 when no request succeeds.
            """
    )

    @Option(help: "The server's OpenAI base URL.")
    var url = "http://127.0.0.1:8080/v1"

    @Option(help: "Sent as 'Authorization: Bearer KEY'.")
    var apiKey: String?

    @Option(help: "The model to request (default: the first that GET /models lists).")
    var model: String?

    @Option(help: "Requests in flight at once (fixed concurrency).")
    var concurrency: Int?

    @Option(help: "Poisson arrivals: mean requests per second (open loop, no cap on requests in flight).")
    var requestRate: Double?

    @Option(help: "Seed of the Poisson schedule (with --request-rate).")
    var seed: UInt64?

    @Option(help: "Requests to send in all.")
    var requests: Int

    @Option(help: "Approximate prompt length in tokens, for synthetic prompts (default: 256).")
    var promptTokens: Int?

    @Option(help: "max_tokens per request (the default for --prompts lines without max_tokens).")
    var outputTokens = 128

    @Option(help: ArgumentHelp("A JSON Lines file of prompts instead of synthetic ones.", valueName: "file.jsonl"))
    var prompts: String?

    @Option(help: "Approximate length in tokens of a system prompt that every request shares (0 = none).")
    var sharedPrefixTokens = 0

    @Option(help: "The endpoint to load: chat (/chat/completions) or completions (/completions).")
    var endpoint: CompletionAPI = .chat

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature = 0.0

    @Flag(help: "Send ignore_eos and min_tokens so every request generates --output-tokens tokens (llama.cpp, vLLM).")
    var ignoreEOS = false

    @Option(help: "Seconds a request (and the model list, when --model is left out) may take before it counts as failed.")
    var timeout = 300.0

    @Option(help: ArgumentHelp("A JSON schema every answer must follow (sent as response_format), to measure structured output under load.",
                               valueName: "file.json"))
    var jsonSchema: String?

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    /// The synthetic prompt length when neither --prompt-tokens nor --prompts is given.
    private static let defaultPromptTokens = 256

    func validate() throws {
        switch (concurrency, requestRate) {
        case (nil, nil): throw ValidationError("give --concurrency N or --request-rate R")
        case (.some, .some): throw ValidationError("give --concurrency or --request-rate, not both")
        case (let workers?, nil):
            guard workers >= 1 else { throw ValidationError("--concurrency must be at least 1") }
            guard seed == nil else { throw ValidationError("--seed applies to --request-rate only") }
        case (nil, let rate?):
            guard rate > 0, rate.isFinite else { throw ValidationError("--request-rate must be a positive number") }
        }
        guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
        guard outputTokens >= 1 else { throw ValidationError("--output-tokens must be at least 1") }
        if prompts != nil, promptTokens != nil {
            throw ValidationError("give --prompt-tokens or --prompts, not both")
        }
        if let promptTokens, promptTokens < 1 { throw ValidationError("--prompt-tokens must be at least 1") }
        guard sharedPrefixTokens >= 0 else { throw ValidationError("--shared-prefix-tokens must be 0 or more") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 or more") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() async throws {
        let target = try BenchTarget(url: url, apiKey: apiKey, api: endpoint)
        let schema: JSONValue?
        do {
            schema = try jsonSchema.map { try JSONValue(parsing: try String(contentsOfFile: $0, encoding: .utf8)) }
        } catch {
            throw ValidationError("--json-schema: \(error)")
        }
        let workload: [BenchPrompt]
        if let prompts {
            let filePrompts = try PromptFile.load(path: prompts, defaultMaxTokens: outputTokens)
            workload = Workload.cycling(filePrompts, requests: requests, sharedPrefixTokens: sharedPrefixTokens)
        } else {
            workload = Workload.synthetic(requests: requests, promptTokens: promptTokens ?? Self.defaultPromptTokens,
                                          outputTokens: outputTokens, sharedPrefixTokens: sharedPrefixTokens)
        }
        let load: LoadPattern = concurrency.map { .concurrency($0) }
            ?? .poisson(requestsPerSecond: requestRate ?? 1, seed: seed ?? 0)
        let report = try await OpenAIClient.withClient(target: target, connections: concurrency ?? requests) { client in
            let model = try await chooseModel(client)
            let settings = RequestSettings(model: model, temperature: temperature, ignoreEOS: ignoreEOS,
                                           timeout: .milliseconds(Int64((timeout * 1000).rounded())), jsonSchema: schema)
            let report = await LoadGenerator(client: client, settings: settings, load: load).run(workload) { progress in
                FileHandle.standardError.write(Data("\r\(progress.finished)/\(progress.total) done, \(progress.failed) failed".utf8))
                if progress.finished == progress.total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
            return report
        }
        print(json ? report.json() : report.table())
        if report.completed == 0 { throw ExitCode.failure }
    }

    /// --model, or the first model the server lists.
    private func chooseModel(_ client: OpenAIClient) async throws -> String {
        if let model { return model }
        guard let first = try await client.models(timeout: .milliseconds(Int64((timeout * 1000).rounded()))).first else {
            throw BenchError(.modelListFailed, "\(client.target.baseURL)/models lists no models; name one with --model")
        }
        return first
    }
}

extension CompletionAPI: ExpressibleByArgument {}

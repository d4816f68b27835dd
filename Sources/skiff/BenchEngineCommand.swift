import ArgumentParser
import Foundation
import SkiffEngine
import SkiffModels

/// `skiff bench-engine`: raw engine speed, comparable with `llama-bench -p 512 -n 128`.
struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-engine",
        abstract: "Measure prompt-processing and generation speed of the engine.",
        discussion: """
            pp: one batch of --prompt-tokens random tokens; tg: --gen-tokens tokens decoded one at a \
            time after --depth tokens in the cache (0: from an empty cache). Each is repeated \
            --repetitions times after a warm-up, like llama-bench -p 512 -n 128 -d DEPTH.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Prompt tokens processed in one batch.")
    var promptTokens: Int = 512

    @Option(help: "Tokens generated one at a time.")
    var genTokens: Int = 128

    @Option(help: "Tokens already in the cache when generation is timed (computed first, untimed).")
    var depth: Int = 0

    @Option(help: "Repetitions of each test.")
    var repetitions: Int = 5

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard depth >= 0 else { throw ValidationError("--depth must be 0 or more") }
        let device = try modelOptions.computeDevice()
        let model = try modelOptions.load(quiet: json, for: device)
        let residentAfterLoad = ResidentMemory.currentBytes()
        let session = try GenerationSession(model: model, contextLength: max(promptTokens, depth + genTokens), device: device,
                                            threads: modelOptions.threads, batchSize: promptTokens)
        guard session.contextLength >= max(promptTokens, depth + genTokens) else {
            throw ValidationError("the model's context is \(session.contextLength) tokens; --depth plus --gen-tokens and --prompt-tokens must fit it")
        }
        let result = try EngineBenchmark.run(session: session, promptTokens: promptTokens, generateTokens: genTokens, depth: depth,
                                             repetitions: repetitions)
        if json {
            let object: [String: Any] = [
                "model": model.name, "device": device.summary, "threads": modelOptions.threads, "isa": ComputePool.instructionSet,
                "pp\(promptTokens)_tokens_per_second": result.prompt.tokensPerSecond,
                "pp\(promptTokens)_stddev": result.prompt.standardDeviation,
                "tg\(genTokens)_tokens_per_second": result.generation.tokensPerSecond,
                "tg\(genTokens)_stddev": result.generation.standardDeviation,
                "depth": depth,
                "weights_bytes": model.weightBytes,
                "resident_bytes_after_load": residentAfterLoad ?? -1,
                "resident_bytes_after_run": ResidentMemory.currentBytes() ?? -1,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(device == .cpu ? "model: \(model.name), device: cpu, threads: \(modelOptions.threads), kernels: \(ComputePool.instructionSet)"
                                 : "model: \(model.name), device: \(device.summary)")
            print(String(format: "pp%d: %8.2f ± %.2f tokens/s", promptTokens, result.prompt.tokensPerSecond, result.prompt.standardDeviation))
            let at = depth > 0 ? " @ d\(depth)" : ""
            print("tg\(genTokens)\(at): " + String(format: "%8.2f ± %.2f tokens/s", result.generation.tokensPerSecond, result.generation.standardDeviation))
            if let before = residentAfterLoad, let after = ResidentMemory.currentBytes() {
                print("resident memory: \(before >> 20) MiB after loading, \(after >> 20) MiB after the run")
            }
        }
    }
}

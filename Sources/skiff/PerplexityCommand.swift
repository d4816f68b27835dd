import ArgumentParser
import Foundation
import SkiffEngine

/// `skiff perplexity`: perplexity of a text file, comparable with llama.cpp's `llama-perplexity`.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Measure a model's perplexity on a text file.",
        discussion: """
            Computed as llama-perplexity does: the text is cut into chunks of --ctx tokens, each \
            evaluated from an empty cache, and the second half of each chunk is scored. The running \
            figure after each chunk is printed like llama-perplexity's [1]x,[2]y,... line.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("The text file to score.", valueName: "file"))
    var file: String

    @Option(name: .customLong("ctx"), help: "Tokens per chunk.")
    var contextLength: Int = 512

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("cannot read '\(file)' as UTF-8 text")
        }
        let device = try modelOptions.computeDevice()
        let model = try modelOptions.load(quiet: json, for: device)
        let session = try GenerationSession(model: model, contextLength: contextLength, device: device,
                                            threads: modelOptions.threads,
                                            batchSize: contextLength)
        let start = ContinuousClock.now
        let result = try session.perplexity(of: text, contextLength: contextLength) { chunk, total, running in
            if !json { FileHandle.standardOutput.write(Data(String(format: "[%d]%.4f,", chunk, running).utf8)) }
            _ = total
        }
        let elapsed = ContinuousClock.now - start
        if json {
            let object: [String: Any] = [
                "perplexity": result.perplexity, "standard_error": result.standardError,
                "context": contextLength, "chunks": result.perChunk.count,
                "scored_tokens": result.scoredTokens, "text_tokens": result.textTokens,
                "seconds": elapsed.seconds,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("")
            print(String(format: "Final estimate: PPL = %.4f +/- %.5f (%d chunks of %d tokens, %d tokens scored, %.1f s)",
                         result.perplexity, result.standardError, result.perChunk.count, contextLength,
                         result.scoredTokens, elapsed.seconds))
        }
    }
}

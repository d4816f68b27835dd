import ArgumentParser
import Foundation
import SkiffChatTemplate
import SkiffEngine
import SkiffModelFile
import SkiffTokenizer

/// `skiff run`: chat with a model in the terminal.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Chat with a model in the terminal.",
        discussion: """
            With PROMPT, answers it once and exits. Without, reads one message per line from standard \
            input and keeps the conversation (type /reset to start over, /exit or end of input to quit). \
            The conversation goes through the model's own chat template; answers stream as they are \
            generated. A sampling option left out takes the model file's recommendation \
            (general.sampling.*), else llama.cpp's default (temperature 0.8, top-k 40, top-p 0.95, \
            min-p 0.05), as skiff serve does; --temperature 0 is greedy.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: "The message to answer (omit for an interactive chat).")
    var prompt: String?

    @Option(help: "A system message to start the conversation with.")
    var system: String?

    @Option(help: "Sampling temperature (0 = greedy; default: the model's, else 0.8).")
    var temperature: Float?

    @Option(help: "Keep only the K most likely tokens (0 = off; default: the model's, else 40).")
    var topK: Int?

    @Option(help: "Nucleus sampling threshold (1 = off; default: the model's, else 0.95).")
    var topP: Float?

    @Option(help: "Drop tokens below this fraction of the top token's probability (0 = off; default: the model's, else 0.05).")
    var minP: Float?

    @Option(help: "Random seed, for reproducible sampling.")
    var seed: UInt64?

    @Option(help: "The most tokens to generate per answer.")
    var maxTokens: Int = 1024

    @Option(name: .customLong("ctx"), help: "Context window in tokens (default: the model's).")
    var contextLength: Int?

    @Flag(help: "Print timing figures after each answer.")
    var verbose = false

    func validate() throws {
        if let (name, requirement) = samplingOptions.rangeProblem() {
            throw ValidationError("--\(name.replacingOccurrences(of: "_", with: "-")) must be \(requirement)")
        }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    /// The sampling options given on the command line.
    private var samplingOptions: SamplingOverrides {
        SamplingOverrides(temperature: temperature, topK: topK, topP: topP, minP: minP)
    }

    func run() throws {
        let device = try modelOptions.computeDevice()
        let model = try modelOptions.load(quiet: prompt != nil && !verbose, for: device)
        let session = try GenerationSession(model: model, contextLength: contextLength, device: device,
                                            threads: modelOptions.threads)
        var parameters = model.samplingRecommendation.defaults(overriddenBy: samplingOptions)
        parameters.seed = seed
        var sampler = Sampler(parameters)
        var messages: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []

        if let prompt {
            messages.append(ChatMessage(role: "user", content: prompt))
            _ = try answer(messages, session: session, sampler: &sampler)
            return
        }
        printError("Chatting with \(model.name). /reset starts over, /exit quits.")
        while true {
            FileHandle.standardError.write(Data("> ".utf8))
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/exit" || text == "/bye" { break }
            if text == "/reset" {
                messages = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
                session.reset()
                continue
            }
            messages.append(ChatMessage(role: "user", content: text))
            do {
                let reply = try answer(messages, session: session, sampler: &sampler)
                messages.append(ChatMessage(role: "assistant", content: reply))
            } catch let error as EngineError where error.code == .contextOverflow {
                printError("The conversation no longer fits the context window (\(session.contextLength) tokens); /reset to start over.")
                messages.removeLast()
            }
        }
    }

    /// Generates and streams the answer to `messages`, reusing the cached prefix of the conversation.
    private func answer(_ messages: [ChatMessage], session: GenerationSession, sampler: inout Sampler) throws -> String {
        let prompt = try session.model.promptTokens(for: messages)
        let shared = zip(session.tokens, prompt).prefix { $0 == $1 }.count
        session.truncate(to: min(shared, prompt.count - 1))
        let start = ContinuousClock.now
        let logits = try session.append(Array(prompt[session.tokens.count...]))
        let firstToken = ContinuousClock.now
        var detokenizer = StreamingDetokenizer(tokenizer: session.model.tokenizer)
        var reply = ""
        let budget = min(maxTokens, session.contextLength - session.tokens.count)
        let result = try session.generate(from: logits, maxTokens: budget, sampler: &sampler) { token in
            let piece = detokenizer.append(token)
            reply += piece
            FileHandle.standardOutput.write(Data(piece.utf8))
            return true
        }
        let tail = detokenizer.flush()
        reply += tail
        FileHandle.standardOutput.write(Data((tail + "\n").utf8))
        if verbose {
            let prefill = firstToken - start
            let decode = ContinuousClock.now - firstToken
            printError(String(format: "[prompt %d tokens (%d reused) in %.0f ms, %d tokens at %.1f tokens/s, finish: %@]",
                              prompt.count, shared, prefill.milliseconds, result.tokens.count,
                              Double(result.tokens.count) / max(decode.seconds, 1e-9), result.finish.rawValue))
        }
        return reply
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
    var milliseconds: Double { seconds * 1000 }
}

import ArgumentParser
import Foundation
import SkiffConvert
import SkiffModels

/// `skiff convert`: a Hugging Face checkpoint directory to a GGUF file; prints the file's path on stdout.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a Hugging Face checkpoint to a GGUF file and print its path.",
        discussion: """
            CHECKPOINT is a directory with config.json and the weights as safetensors (one file, or \
            shards listed by model.safetensors.index.json) in F32, F16 or BF16. Converts: llamba \
            (Cartesia's Llamba; docs/llamba-gguf.md). The tokenizer comes from the directory's \
            tokenizer.json (and tokenizer_config.json), or from --tokenizer: another such directory, \
            or a GGUF file whose tokenizer is copied (the published Llamba checkpoints use Llama 3's). \
            Matrices are stored at --type; norms, biases and convolution taps stay F32; at q4_k the \
            output head is kept at Q8_0. The file appears only once it is complete. Progress (one line \
            per tensor) goes to stderr.
            """
    )

    @Argument(help: ArgumentHelp("The checkpoint directory.", valueName: "checkpoint"))
    var checkpoint: String

    @Option(name: .shortAndLong, help: ArgumentHelp("The GGUF file to write (default: <checkpoint name>-<TYPE>.gguf in the current directory).", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("How matrices are stored: \(CheckpointConverter.TargetType.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "type"))
    var type: CheckpointConverter.TargetType = .f16

    @Option(help: ArgumentHelp("A tokenizer directory (tokenizer.json) or a GGUF file to take the tokenizer from (default: the checkpoint's own).", valueName: "path"))
    var tokenizer: String?

    @Option(help: ArgumentHelp("The context length the file declares (default: config.json's max_position_embeddings, else 131072).", valueName: "tokens"))
    var contextLength: Int?

    @Option(name: .shortAndLong, help: "Quantization threads (default: one per CPU core).")
    var threads: Int = ComputePool.defaultThreadCount

    @Flag(name: .shortAndLong, help: "Show no progress; print only the file's path.")
    var quiet = false

    func validate() throws {
        if let contextLength, contextLength <= 0 { throw ValidationError("--context-length must be a positive number of tokens") }
        if threads <= 0 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let directory = URL(fileURLWithPath: checkpoint)
        let source = tokenizer.map { path -> TokenizerSource in
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            return exists && isDirectory.boolValue ? .huggingFace(URL(fileURLWithPath: path)) : .gguf(path)
        }
        let converter = try CheckpointConverter(directory: directory, tokenizer: source, contextLength: contextLength)
        let path = output ?? "\(directory.standardizedFileURL.lastPathComponent)-\(type.rawValue.uppercased()).gguf"
        let start = ContinuousClock.now
        try converter.write(to: path, type: type, threads: threads) { progress in
            guard !quiet else { return }
            let width = String(progress.total).count
            let index = String(progress.done + 1).leftPadded(to: width)
            FileHandle.standardError.write(Data("[\(index)/\(progress.total)] \(progress.tensor) \(progress.type) \(progress.dimensions)\n".utf8))
        }
        if !quiet {
            FileHandle.standardError.write(Data(String(format: "wrote %@ in %.1f s\n", path, (ContinuousClock.now - start).seconds).utf8))
        }
        print(path)
    }
}

extension CheckpointConverter.TargetType: ExpressibleByArgument {}

extension String {
    /// The string with spaces in front up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

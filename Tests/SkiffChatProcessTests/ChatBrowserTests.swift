import Foundation
import Testing

/// The chat in a real browser (Debian's chromium driven by playwright), against a real `skiff serve` with
/// the default model and real `skiff-chat` processes; the Markdown and injection answers come from the
/// stand-in upstream, which says them word for word. The checks themselves are in `Browser/chat_browser_check.py`.
///
/// Set `SKIFF_CHAT_SCREENSHOT=/path/file.png` to keep a screenshot of the app (docs/chat-screenshot.png is one).
@Suite struct ChatBrowserTests {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser")
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(.timeLimit(.minutes(10))) func chattingInABrowser() async throws {
        let python = try await Self.tools()
        let (serve, serveURL) = try await Programs.serve()
        let (standIn, standInPort) = try await Programs.standIn()
        let (realChat, realURL) = try await Programs.chat(llmURL: serveURL, database: try Programs.databasePath())
        let (cannedChat, cannedURL) = try await Programs.chat(
            llmURL: "http://127.0.0.1:\(standInPort)/v1", database: try Programs.databasePath())
        var arguments = [Self.scripts.appendingPathComponent("chat_browser_check.py").path,
                         "--chat", realURL, "--canned-chat", cannedURL, "--chromium", try Self.chromium()]
        if let screenshot = ProcessInfo.processInfo.environment["SKIFF_CHAT_SCREENSHOT"], !screenshot.isEmpty {
            arguments += ["--screenshot", screenshot]
        }
        let result = try ChildProcess(python, arguments)
        let status = await result.waitForExit(timeout: .seconds(300))
        #expect(status == 0, "\(result.output)\n--- skiff-chat:\n\(realChat.output.suffix(3000))\n--- skiff serve:\n\(serve.output.suffix(3000))")
        for process in [realChat, cannedChat, standIn, serve] { await process.stop() }
    }

    /// Debian's chromium (installed with apt when absent).
    static func chromium() throws -> String {
        for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw ChildProcess.Failure(description: "chromium is not installed (apt-get install chromium; `make test` does it)")
    }

    /// The virtual environment with playwright under `.tools/chat-browser`, made on first use; its python.
    static func tools() async throws -> String {
        let environment = packageRoot.appendingPathComponent(".tools/chat-browser")
        let requirements = scripts.appendingPathComponent("requirements.txt")
        let stamp = environment.appendingPathComponent("requirements.txt")
        let wanted = try Data(contentsOf: requirements)
        let bin = environment.appendingPathComponent("bin")
        if (try? Data(contentsOf: stamp)) != wanted {
            for step in [["/usr/bin/env", "python3", "-m", "venv", "--clear", environment.path],
                         [bin.appendingPathComponent("pip").path, "install", "--quiet", "--disable-pip-version-check",
                          "-r", requirements.path]] {
                let process = try ChildProcess(step[0], Array(step.dropFirst()))
                let status = await process.waitForExit(timeout: .seconds(300))
                guard status == 0 else { throw ChildProcess.Failure(description: "\(step.joined(separator: " ")) failed:\n\(process.output)") }
            }
            try wanted.write(to: stamp)
        }
        return bin.appendingPathComponent("python").path
    }
}

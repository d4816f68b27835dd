import Foundation
import Testing

/// A Python virtual environment under the package's `.tools/python` with the pinned packages of
/// `requirements.txt` (beside this file), made on first use (from PyPI) and reused afterwards. Test targets
/// keep their scripts in a `Python` folder of their own, run from the source tree.
public enum PythonTools {
    /// The package's root directory.
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let environment = packageRoot.appendingPathComponent(".tools/python")

    /// The environment's bin directory, installing the requirements first if they are not yet there.
    public static func binDirectory() async throws -> URL {
        try await installation.value
    }

    private static let installation = Task<URL, any Error> {
        let requirements = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("requirements.txt")
        let stamp = environment.appendingPathComponent("requirements.txt")
        let bin = environment.appendingPathComponent("bin")
        let wanted = try Data(contentsOf: requirements)
        if (try? Data(contentsOf: stamp)) != wanted {
            try await run("/usr/bin/env", ["python3", "-m", "venv", "--clear", environment.path])
            try await run(bin.appendingPathComponent("pip").path,
                          ["install", "--quiet", "--disable-pip-version-check", "-r", requirements.path])
            try wanted.write(to: stamp)
        }
        return bin
    }

    /// A tool that failed or did not finish, with its output.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs a program to its end (at most `timeout`), returning its combined output; throws if it fails.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(600)) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // Tools that keep caches in their working directory (schemathesis) keep them out of the package.
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-tool-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer {
            try? handle.close()
            try? FileManager.default.removeItem(at: output)
        }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw Failure(description: "\(executable) did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus):\n\(text)")
        }
        return text
    }
}

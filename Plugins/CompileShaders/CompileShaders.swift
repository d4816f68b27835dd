import Foundation
import PackagePlugin

/// Compiles a target's compute shaders (`Shaders/*.comp`, GLSL, with `Shaders/*.glsl` includes) to SPIR-V
/// with Debian's `glslc` at build time and embeds them in the target as Swift source (`spirv-embed`), so no
/// compiled shader is ever kept in the repository.
@main
struct CompileShaders: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let shaders = target.directoryURL.appending(path: "Shaders")
        let files = try FileManager.default.contentsOfDirectory(at: shaders, includingPropertiesForKeys: nil)
            .filter { ["comp", "glsl"].contains($0.pathExtension) }
            .sorted { $0.path < $1.path }
        let output = context.pluginWorkDirectoryURL.appending(path: "ShaderBinaries.swift")
        // Where glslc is; when it is not installed, spirv-embed says so if this target is built (a build of other
        // products, such as the chat tier's image, never needs it).
        let glslc = Self.glslc()
        return [.buildCommand(
            displayName: "Compiling \(files.filter { $0.pathExtension == "comp" }.count) compute shaders of \(target.name) to SPIR-V",
            executable: try context.tool(named: "spirv-embed").url,
            arguments: [glslc?.path ?? "glslc", shaders.path, output.path],
            inputFiles: files + (glslc.map { [$0] } ?? []),
            outputFiles: [output])]
    }

    /// `glslc` on the PATH (Debian's package glslc; `make run` and `make test` install it), if it is there.
    static func glslc() -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = URL(filePath: directory).appending(path: "glslc")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}

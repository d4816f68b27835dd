import Foundation

// spirv-embed GLSLC SHADER_DIRECTORY OUTPUT.swift
//
// Compiles every compute shader in SHADER_DIRECTORY (`*.comp`) with glslc and writes OUTPUT.swift, an enum
// holding each SPIR-V module as base64 text, keyed by name, and how many texel buffers (set 0, bindings 0 ...
// N-1) each reads. A shader compiled several ways declares each way on a line of its own,
// `//! variant NAME DEFINE[=VALUE] ...`; a shader with no such line is compiled once, named after its file. A
// shader that reads texel buffers says how many on a line `//! texel-buffers N`. Run by the CompileShaders build
// plugin; a compile error fails the build with glslc's message.

struct Variant {
    let name: String
    let source: URL
    let defines: [String]
    let texelBuffers: Int
}

func variants(of source: URL) throws -> [Variant] {
    let text = try String(contentsOf: source, encoding: .utf8)
    let lines = text.split(separator: "\n").map { $0.split(separator: " ") }
    let texelBuffers = lines.first { $0.count == 3 && $0[0] == "//!" && $0[1] == "texel-buffers" }.flatMap { Int($0[2]) } ?? 0
    let declared = lines.compactMap { words -> Variant? in
        guard words.count >= 3, words[0] == "//!", words[1] == "variant" else { return nil }
        return Variant(name: String(words[2]), source: source, defines: words.dropFirst(3).map(String.init), texelBuffers: texelBuffers)
    }
    return declared.isEmpty
        ? [Variant(name: source.deletingPathExtension().lastPathComponent, source: source, defines: [], texelBuffers: texelBuffers)]
        : declared
}

func compile(_ variant: Variant, glslc: String, includes: URL, scratch: URL) -> Result<Data, CompileFailure> {
    let output = scratch.appending(path: variant.name + ".spv")
    let process = Process()
    process.executableURL = URL(filePath: glslc)
    process.arguments = ["-fshader-stage=compute", "--target-env=vulkan1.2", "-O", "-Werror", "-I", includes.path]
        + variant.defines.map { "-D" + $0 } + [variant.source.path, "-o", output.path]
    let errors = Pipe()
    process.standardError = errors
    do {
        try process.run()
    } catch {
        return .failure(CompileFailure(message: "could not run \(glslc): \(error)"))
    }
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0, let data = try? Data(contentsOf: output) else {
        return .failure(CompileFailure(message: "\(variant.name) (\(variant.source.lastPathComponent) \(variant.defines.joined(separator: " "))):\n\(message)"))
    }
    return .success(data)
}

struct CompileFailure: Error {
    let message: String
}

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    FileHandle.standardError.write(Data("usage: spirv-embed GLSLC SHADER_DIRECTORY OUTPUT.swift\n".utf8))
    exit(2)
}
let (glslc, directory, output) = (arguments[1], URL(filePath: arguments[2]), URL(filePath: arguments[3]))
guard FileManager.default.isExecutableFile(atPath: glslc) else {
    FileHandle.standardError.write(Data("error: glslc, the GLSL to SPIR-V compiler, is not installed: apt-get install glslc libvulkan-dev (make run and make test install it)\n".utf8))
    exit(1)
}
do {
    let sources = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        .filter { $0.pathExtension == "comp" }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
    let all = try sources.flatMap(variants(of:))
    let names = Set(all.map(\.name))
    guard names.count == all.count else {
        throw CompileFailure(message: "two shader variants share a name")
    }
    let scratch = FileManager.default.temporaryDirectory.appending(path: "spirv-embed-\(getpid())")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    nonisolated(unsafe) var results = [Result<Data, CompileFailure>?](repeating: nil, count: all.count)
    let lock = NSLock()
    DispatchQueue.concurrentPerform(iterations: all.count) { i in
        let result = compile(all[i], glslc: glslc, includes: directory, scratch: scratch)
        lock.withLock { results[i] = result }
    }
    var swift = """
        // Generated at build time by spirv-embed from Shaders/*.comp (glslc). Not in the repository.

        /// Each compute shader's SPIR-V, base64-encoded, by variant name, and the texel buffers it reads.
        enum ShaderBinaries {
            static let texelBuffers: [String: Int] = [
        \(all.map { "        \"\($0.name)\": \($0.texelBuffers),\n" }.joined())    ]

            static let spirv: [String: String] = [

        """
    var failures: [String] = []
    for (variant, result) in zip(all, results) {
        switch result! {
        case .success(let data): swift += "        \"\(variant.name)\": \"\(data.base64EncodedString())\",\n"
        case .failure(let failure): failures.append(failure.message)
        }
    }
    guard failures.isEmpty else { throw CompileFailure(message: failures.joined(separator: "\n")) }
    swift += all.isEmpty ? "        :\n    ]\n}\n" : "    ]\n}\n"
    try Data(swift.utf8).write(to: output, options: .atomic)
} catch let failure as CompileFailure {
    FileHandle.standardError.write(Data("error: shader compilation failed: \(failure.message)\n".utf8))
    exit(1)
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}

import Foundation

/// The model cache directory: where pulled GGUF files live, and how a model reference becomes a file path.
///
/// The store only reads the directory; ``ModelPuller`` writes to it. Files whose names end in
/// `.gguf` are models; `*.partial` and `*.extracting` files are unfinished pulls and are never listed
/// or resolved.
public struct ModelStore: Sendable {
    /// The environment variable that names the model directory when no explicit path is given.
    public static let directoryVariable = "SKIFF_MODEL_DIR"

    /// The model directory (it may not exist yet; the first pull creates it).
    public let directory: URL

    /// A store at exactly `directory`.
    public init(directory: URL) {
        self.directory = directory.standardizedFileURL
    }

    /// A store at the first of: `explicitPath` (the CLI's `--model-dir`), `$SKIFF_MODEL_DIR`,
    /// `$XDG_CACHE_HOME/skiff/models`, `$HOME/.cache/skiff/models`.
    ///
    /// Empty values count as unset, and a relative `XDG_CACHE_HOME` is ignored, as the XDG spec says.
    /// A leading `~/` is expanded with `HOME`. Nothing is created or checked on disk.
    public init(explicitPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        func expanded(_ path: String) -> String {
            path == "~" ? home : path.hasPrefix("~/") ? home + path.dropFirst(1) : path
        }
        if let explicitPath, !explicitPath.isEmpty {
            self.init(directory: URL(fileURLWithPath: expanded(explicitPath), isDirectory: true))
        } else if let path = environment[Self.directoryVariable], !path.isEmpty {
            self.init(directory: URL(fileURLWithPath: expanded(path), isDirectory: true))
        } else if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/") {
            self.init(directory: URL(fileURLWithPath: cache, isDirectory: true).appending(path: "skiff/models"))
        } else {
            self.init(directory: URL(fileURLWithPath: home, isDirectory: true).appending(path: ".cache/skiff/models"))
        }
    }

    /// The path a model file named `fileName` has in this store, whether or not it exists.
    public func path(for fileName: String) -> URL {
        directory.appending(component: fileName)
    }

    /// The models in the store, sorted by file name; empty when the directory does not exist yet.
    ///
    /// Lists regular `.gguf` files (and symbolic links to them); unfinished pulls are not listed.
    /// Does not open or check the files.
    public func models() throws -> [StoredModel] {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: directory.path) else { return [] }
        let names: [String]
        do {
            names = try fileManager.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw ModelStoreError(
                .fileSystem,
                "cannot list the model directory \(directory.path): \(error.localizedDescription)",
                underlyingError: error
            )
        }
        return names.sorted().compactMap { name in
            guard name.hasSuffix(".gguf"), !name.hasPrefix("."),
                let size = regularFileSize(atPath: path(for: name).path)
            else { return nil }
            return StoredModel(fileName: name, path: path(for: name), byteCount: size)
        }
    }

    /// The file a model reference names, tried in this order: a path to an existing file; a model in
    /// the store by file name, with or without `.gguf`; a name in `catalog` whose file has been pulled.
    ///
    /// Does not pull anything. Throws ``ModelStoreError/Code/modelNotFound`` with the models on hand
    /// and, for a catalog model not yet pulled, the `skiff pull` command that fetches it.
    public func resolve(_ reference: String, catalog: ModelCatalog = .builtIn) throws -> URL {
        if regularFileSize(atPath: reference) != nil {
            return URL(fileURLWithPath: reference).standardizedFileURL
        }
        if isPlainFileName(reference) {
            let file = path(for: reference.hasSuffix(".gguf") ? reference : reference + ".gguf")
            if regularFileSize(atPath: file.path) != nil { return file }
        }
        if let entry = catalog.entry(named: reference) {
            let file = path(for: entry.spec.fileName)
            if regularFileSize(atPath: file.path) != nil { return file }
            throw ModelStoreError(
                .modelNotFound,
                "model '\(entry.name)' is not in \(directory.path) yet; run `skiff pull \(entry.name)` to download it"
            )
        }
        let onHand = (try? models().map(\.name)) ?? []
        let known = onHand.isEmpty ? "the store at \(directory.path) is empty" : "models in \(directory.path): \(onHand.joined(separator: ", "))"
        throw ModelStoreError(
            .modelNotFound,
            "no model '\(reference)': it is not a file, not a model in the store, and not a catalog name (\(catalog.entries.map(\.name).joined(separator: ", "))); \(known)"
        )
    }
}

/// A model file in the store.
public struct StoredModel: Sendable, Hashable {
    /// The file name, such as `SmolLM2-135M-Instruct.Q4_1.gguf`.
    public let fileName: String
    /// The full path of the file.
    public let path: URL
    /// The file's size in bytes.
    public let byteCount: Int64

    /// The file name without `.gguf`, as people type it.
    public var name: String { String(fileName.dropLast(".gguf".count)) }
}

/// Whether `name` can be a file name in the store: not empty, not hidden, no path separator.
func isPlainFileName(_ name: String) -> Bool {
    !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && !name.contains("\0")
}

/// The size of the regular file at `path` (following symbolic links), or `nil` if there is none.
func regularFileSize(atPath path: String) -> Int64? {
    var info = stat()
    guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    return Int64(info.st_size)
}

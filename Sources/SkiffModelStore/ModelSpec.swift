/// What to pull: the file name in the store, where the bytes come from, and what they must hash to.
///
/// A spec only describes a model; ``ModelPuller`` does the work. Build one from a catalog entry, from
/// what a person typed (``ModelSpec/init(reference:member:fileName:sha256:catalog:)``), or directly.
public struct ModelSpec: Sendable, Hashable {
    /// The model's file name in the store, ending in `.gguf`.
    public var fileName: String
    /// Where the bytes come from.
    public var source: ModelSource
    /// The GGUF file's sha256 in lowercase hex, or `nil` to accept any content that starts with the GGUF magic.
    public var sha256: String?
    /// The GGUF file's size in bytes, when known.
    public var byteCount: Int64?

    /// Describes a model file; `sha256` must be lowercase hex.
    public init(fileName: String, source: ModelSource, sha256: String? = nil, byteCount: Int64? = nil) {
        self.fileName = fileName
        self.source = source
        self.sha256 = sha256
        self.byteCount = byteCount
    }
}

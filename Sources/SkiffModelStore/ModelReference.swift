import Foundation

extension ModelSpec {
    /// The spec for what a person typed: a catalog name, an `http(s)` URL, or a path to an existing
    /// file (a GGUF file, or a zip archive when `member` is given).
    ///
    /// - Parameters:
    ///   - reference: A catalog name (see ``ModelCatalog``), a URL, or a path. Catalog names win over
    ///     paths, so a file that happens to be called `smollm2-135m-instruct` needs `./` in front.
    ///   - member: The model's path inside an archive at `reference`; not allowed with a catalog name.
    ///   - fileName: The model's file name in the store; `.gguf` is appended when missing. Defaults
    ///     to the catalog's name for the file, or the last component of the member, URL or path.
    ///   - sha256: The model file's expected sha256 in hex; replaces the catalog's hash (and size).
    ///   - catalog: Where names are looked up.
    ///
    /// Checks the syntax and, for a path, that the file exists; does not touch the network.
    public init(
        reference: String,
        member: String? = nil,
        fileName: String? = nil,
        sha256: String? = nil,
        catalog: ModelCatalog = .builtIn
    ) throws {
        if let sha256, !isSHA256Hex(sha256) {
            throw ModelStoreError(.invalidChecksum, "'\(sha256)' is not a sha256: it must be 64 hexadecimal digits")
        }
        if let entry = catalog.entry(named: reference) {
            guard member == nil else {
                throw ModelStoreError(
                    .invalidReference,
                    "--member applies to an archive's URL or path, not to the catalog model '\(entry.name)'"
                )
            }
            self = entry.spec
            if let sha256 {
                self.sha256 = sha256.lowercased()
                self.byteCount = nil
            }
        } else {
            let location = try FileLocation(reference: reference, catalog: catalog)
            let source: ModelSource =
                if let member {
                    .archiveMembers([ArchiveMember(archive: location, path: member)])
                } else {
                    .file(location)
                }
            let defaultName = member.map { URL(fileURLWithPath: $0).lastPathComponent } ?? location.lastPathComponent
            guard let name = defaultName, isPlainFileName(name) else {
                throw ModelStoreError(.invalidFileName, "cannot tell a file name from '\(reference)'; pass one with --name")
            }
            self.init(fileName: name, source: source, sha256: sha256?.lowercased())
        }
        if let fileName {
            self.fileName = fileName
        }
        if !self.fileName.hasSuffix(".gguf") {
            self.fileName += ".gguf"
        }
        guard isPlainFileName(self.fileName) else {
            throw ModelStoreError(
                .invalidFileName,
                "'\(self.fileName)' cannot be a model file name: it must not start with a dot or contain '/'"
            )
        }
    }
}

extension FileLocation {
    /// Reads `reference` as an `http(s)` URL, a `file:` URL or a path to an existing regular file.
    fileprivate init(reference: String, catalog: ModelCatalog) throws {
        let lowercased = reference.lowercased()
        if lowercased.hasPrefix("http://") || lowercased.hasPrefix("https://") {
            guard let url = URL(string: reference), url.host != nil else {
                throw ModelStoreError(.invalidReference, "'\(reference)' is not a valid URL")
            }
            self = .remote(url)
            return
        }
        let path = lowercased.hasPrefix("file://") ? (URL(string: reference)?.path ?? "") : reference
        if regularFileSize(atPath: path) != nil {
            self = .local(path)
            return
        }
        if lowercased.contains("://") {
            throw ModelStoreError(.invalidReference, "'\(reference)' uses a URL scheme Skiff cannot pull from; use http(s) or a local path")
        }
        throw ModelStoreError(
            .invalidReference,
            "'\(reference)' is not a catalog model (\(catalog.entries.map(\.name).joined(separator: ", "))), not an http(s) URL, and no file exists at that path"
        )
    }
}

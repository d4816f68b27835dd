@testable import SkiffModelStore
import Foundation
import Testing

@Suite("Writing partial files")
struct PartialFileTests {
    @Test func secondWriterOfAPartialFileIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let url = directory.appending(component: "tiny.gguf.partial")
            let first = try PartialFile(url: url)
            let error = #expect(throws: ModelStoreError.self) { _ = try PartialFile(url: url) }
            #expect(error?.code == .pullInProgress)
            _ = consume first
            _ = try PartialFile(url: url)
        }
    }

    /// The path a pull takes when the source is on another file system than the store (no hard link).
    @Test func copyVerifiesTheBytes() async throws {
        try await withTemporaryDirectory { directory in
            let bytes = fakeGGUF(count: 3_000_000, seed: 9)
            let source = directory.appending(component: "source.gguf")
            try Data(bytes).write(to: source)
            let target = directory.appending(component: "copy.gguf.partial")
            let expected = ExpectedContent(sha256: sha256Hex(bytes), byteCount: Int64(bytes.count), description: "test")
            var last: PullProgress?
            try LocalFileCopy.copyContents(of: source.path, size: Int64(bytes.count), into: target, expecting: expected) {
                last = $0
            }
            #expect(contents(of: target) == bytes)
            #expect(last?.phase == .copying && last?.isFinished == true)

            let wrong = ExpectedContent(sha256: String(repeating: "0", count: 64), byteCount: nil, description: "test")
            #expect(throws: ModelStoreError.self) {
                try LocalFileCopy.copyContents(of: source.path, size: Int64(bytes.count), into: target, expecting: wrong) { _ in }
            }
            #expect(!FileManager.default.fileExists(atPath: target.path))
        }
    }
}

@testable import SkiffModelStore
import Foundation
import Synchronization
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

    /// Pods starting together on a shared volume: the second pull waits for the first, then finds the model.
    @Test func aPullWaitsForAnotherPullOfTheSameModel() async throws {
        final class Phases: Sendable { let seen = Mutex<[PullProgress.Phase]>([]) }
        let bytes = fakeGGUF(count: 200_000, seed: 4)
        try await TestHTTPServer.with(routes: ["/shared.gguf": Route(body: bytes)]) { server in
            try await withTemporaryDirectory { directory in
                let store = ModelStore(directory: directory)
                let partial = store.path(for: "shared.gguf.partial")
                let other = try PartialFile(url: partial)

                let phases = Phases()
                let spec = ModelSpec(fileName: "shared.gguf", source: .file(.remote(server.url("/shared.gguf"))),
                                     sha256: sha256Hex(bytes), byteCount: Int64(bytes.count))
                let waiting = Task {
                    try await ModelPuller(store: store).pull(spec) { p in phases.seen.withLock { $0.append(p.phase) } }
                }
                // Until the pull reports that it waits (a deadline only for a hang).
                let deadline = ContinuousClock.now + .seconds(300)
                while !phases.seen.withLock({ $0.contains(.waiting) }), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(phases.seen.withLock { $0.first == .waiting && $0.allSatisfy { $0 == .waiting } })
                // The other pull finishes: the model is renamed into place and its lock released.
                try Data(bytes).write(to: partial)
                try installModel(from: partial, to: store.path(for: "shared.gguf"))
                _ = consume other
                let path = try await waiting.value
                #expect(contents(of: path) == bytes)
                // Nothing was downloaded again: this pull waited, then found the model in place.
                #expect(server.requests.isEmpty)
                #expect(!phases.seen.withLock { $0.contains(.downloading) })
                #expect(fileNames(in: directory) == ["shared.gguf"])
            }
        }
    }

    /// Two pulls of one local file at once: each links it under a name of its own, so neither waits.
    @Test func localPullsLinkUnderTheirOwnNames() async throws {
        try await withTemporaryDirectory { directory in
            let bytes = fakeGGUF(count: 100_000, seed: 5)
            let source = directory.appending(component: "source.gguf")
            try Data(bytes).write(to: source)
            let store = ModelStore(directory: directory.appending(component: "models"))
            let spec = try ModelSpec(reference: source.path, fileName: "local", sha256: sha256Hex(bytes))
            async let first = ModelPuller(store: store).pull(spec)
            async let second = ModelPuller(store: store).pull(spec)
            let paths = try await [first, second]
            #expect(paths[0] == paths[1])
            #expect(contents(of: paths[0]) == bytes)
            #expect(contents(of: source) == bytes)
            #expect(fileNames(in: store.directory) == ["local.gguf"])
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

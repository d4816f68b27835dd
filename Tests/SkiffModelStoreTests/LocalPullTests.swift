import Foundation
import SkiffModelStore
import Testing

@Suite("Pulling from a file on this machine")
struct LocalPullTests {
    let model = fakeGGUF(count: 300_000, seed: 3)

    @Test func localFileIsBroughtIntoTheStoreAndVerified() async throws {
        try await withTemporaryDirectory { scratch in
            let source = scratch.appending(component: "downloaded.gguf")
            try Data(model).write(to: source)
            let store = scratch.appending(component: "models")
            let spec = try ModelSpec(reference: source.path, fileName: "mine", sha256: sha256Hex(model).uppercased())
            #expect(spec.fileName == "mine.gguf")
            var reports = 0
            let path = try await ModelPuller(store: ModelStore(directory: store)).pull(spec) { _ in reports += 1 }
            #expect(path == store.appending(component: "mine.gguf"))
            #expect(contents(of: path) == model)
            #expect(contents(of: source) == model)
            #expect(fileNames(in: store) == ["mine.gguf"])
            #expect(reports > 0)
        }
    }

    @Test func localFileWithWrongHashIsRefusedAndSourceKept() async throws {
        try await withTemporaryDirectory { scratch in
            let source = scratch.appending(component: "downloaded.gguf")
            try Data(model).write(to: source)
            let store = scratch.appending(component: "models")
            let spec = try ModelSpec(reference: source.path, sha256: String(repeating: "f", count: 64))
            let error = await #expect(throws: ModelStoreError.self) {
                try await ModelPuller(store: ModelStore(directory: store)).pull(spec)
            }
            #expect(error?.code == .checksumMismatch)
            #expect(fileNames(in: store).isEmpty)
            #expect(contents(of: source) == model)
        }
    }

    @Test func localFileThatIsNotGGUFIsRefused() async throws {
        try await withTemporaryDirectory { scratch in
            let source = scratch.appending(component: "notes.gguf")
            try Data("just some text".utf8).write(to: source)
            let store = scratch.appending(component: "models")
            let error = await #expect(throws: ModelStoreError.self) {
                try await ModelPuller(store: ModelStore(directory: store)).pull(try ModelSpec(reference: source.path))
            }
            #expect(error?.code == .notGGUF)
            #expect(fileNames(in: store).isEmpty)
            #expect(FileManager.default.fileExists(atPath: source.path))
        }
    }
}

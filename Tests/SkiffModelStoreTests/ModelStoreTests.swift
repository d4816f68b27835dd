import Foundation
import SkiffModelStore
import Testing

@Suite("The model directory")
struct ModelStoreTests {
    @Test func directoryResolutionOrder() {
        let environment = [
            "HOME": "/home/ada",
            "XDG_CACHE_HOME": "/var/cache/ada",
            "SKIFF_MODEL_DIR": "/srv/models",
        ]
        #expect(ModelStore(explicitPath: "/data/m", environment: environment).directory.path == "/data/m")
        #expect(ModelStore(explicitPath: "~/m", environment: environment).directory.path == "/home/ada/m")
        #expect(ModelStore(explicitPath: nil, environment: environment).directory.path == "/srv/models")
        var noVariable = environment
        noVariable["SKIFF_MODEL_DIR"] = ""
        #expect(ModelStore(explicitPath: nil, environment: noVariable).directory.path == "/var/cache/ada/skiff/models")
        noVariable["XDG_CACHE_HOME"] = "relative/cache"
        #expect(ModelStore(explicitPath: nil, environment: noVariable).directory.path == "/home/ada/.cache/skiff/models")
    }

    @Test func listsOnlyFinishedModels() async throws {
        try await withTemporaryDirectory { directory in
            for name in ["b.gguf", "a.gguf", "c.gguf.partial", "d.gguf.extracting", "notes.txt", ".hidden.gguf"] {
                try Data("GGUF".utf8).write(to: directory.appending(component: name))
            }
            try FileManager.default.createDirectory(at: directory.appending(component: "dir.gguf"), withIntermediateDirectories: true)
            let models = try ModelStore(directory: directory).models()
            #expect(models.map(\.fileName) == ["a.gguf", "b.gguf"])
            #expect(models.map(\.name) == ["a", "b"])
            #expect(models.allSatisfy { $0.byteCount == 4 })
        }
    }

    @Test func missingDirectoryHasNoModels() throws {
        let store = ModelStore(directory: URL(fileURLWithPath: "/nonexistent/skiff/models"))
        #expect(try store.models().isEmpty)
    }

    @Test func resolvesPathsNamesAndCatalogNames() async throws {
        try await withTemporaryDirectory { directory in
            let store = ModelStore(directory: directory)
            let model = directory.appending(component: "tiny.gguf")
            try Data("GGUF".utf8).write(to: model)
            #expect(try store.resolve("tiny") == model)
            #expect(try store.resolve("tiny.gguf") == model)
            #expect(try store.resolve(model.path) == model)

            let catalogFile = directory.appending(component: ModelCatalog.builtIn.defaultEntry.spec.fileName)
            let notPulled = #expect(throws: ModelStoreError.self) { try store.resolve("smollm2-135m-instruct") }
            #expect(notPulled?.code == .modelNotFound)
            #expect(notPulled?.message.contains("skiff pull smollm2-135m-instruct") == true)
            try Data("GGUF".utf8).write(to: catalogFile)
            #expect(try store.resolve("SmolLM2-135M-Instruct") == catalogFile)

            let unknown = #expect(throws: ModelStoreError.self) { try store.resolve("llama-70b") }
            #expect(unknown?.code == .modelNotFound)
            #expect(unknown?.message.contains("tiny") == true)
        }
    }

    @Test func partialFilesAreNotResolved() async throws {
        try await withTemporaryDirectory { directory in
            try Data("GGUF".utf8).write(to: directory.appending(component: "tiny.gguf.partial"))
            #expect(throws: ModelStoreError.self) { try ModelStore(directory: directory).resolve("tiny") }
        }
    }
}

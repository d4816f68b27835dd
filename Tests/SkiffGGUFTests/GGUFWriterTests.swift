import Foundation
import GGUFTestSupport
import SkiffGGUF
import Testing

/// `GGUFWriter` read back by `GGUFFile`, and its refusals.
@Suite struct GGUFWriterTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("skiff-writer-\(UUID().uuidString).gguf").path
    }

    static let tensors = [
        GGUFWriter.Tensor(name: "a.weight", dimensions: [64, 3], type: .q8_0),
        GGUFWriter.Tensor(name: "b.weight", dimensions: [5], type: .f32),
        GGUFWriter.Tensor(name: "c.weight", dimensions: [3, 2], type: .f16),
    ]

    @Test func writesMetadataAndAlignedTensorsThatReadBack() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try GGUFWriter(path: path, metadata: GGUFFileTests.everyValueType, tensors: Self.tensors)
        var contents: [[UInt8]] = []
        while let next = writer.next {
            let bytes = (0 ..< next.byteCount).map { UInt8(truncatingIfNeeded: $0 * 7 + contents.count) }
            try bytes.withUnsafeBytes { try writer.write($0) }
            contents.append(bytes)
        }
        #expect(!FileManager.default.fileExists(atPath: path), "the file appears only when finished")
        try writer.finish()
        let file = try GGUFFile(path: path)
        for (key, value) in GGUFFileTests.everyValueType { #expect(file.metadata[key] == value, "key \(key)") }
        #expect(file.tensors.map(\.name) == Self.tensors.map(\.name))
        #expect(file.tensors.map(\.type) == Self.tensors.map(\.type))
        for (tensor, bytes) in zip(file.tensors, contents) {
            #expect(tensor.fileOffset % 32 == 0)
            #expect(Array(file.data(of: tensor)) == bytes, "tensor \(tensor.name)")
        }
    }

    @Test func refusesWrongSizesAndUnfinishedFiles() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: GGUFError.self) { try GGUFWriter(path: path, metadata: [], tensors: [.init(name: "q", dimensions: [30, 2], type: .q8_0)]) }
        var writer: GGUFWriter? = try GGUFWriter(path: path, metadata: [], tensors: Self.tensors)
        let wrong = [UInt8](repeating: 0, count: 10)
        let error = #expect(throws: GGUFError.self) { try wrong.withUnsafeBytes { try writer!.write($0) } }
        #expect(error?.message == "tensor 'a.weight' needs 204 bytes of Q8_0, not 10")
        let unfinished = #expect(throws: GGUFError.self) { try writer!.finish() }
        #expect(unfinished?.message.contains("tensor 'a.weight' and 2 after it are not written") == true)
        writer = nil
        #expect(!FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: path + ".partial"),
                "an abandoned writer leaves nothing behind")
    }
}

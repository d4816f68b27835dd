import CSkiffKernels
import Foundation
import Testing

/// skiff_dequantize_row against llama.cpp's own definition of each quantized type, bit for bit: random
/// blocks and the values the `gguf` Python package dequantizes them to (Fixtures/dequantize-gguf.json,
/// written by Fixtures/make-dequantize-fixture.py).
@Suite struct DequantizeTests {
    struct Case: Decodable, CustomTestStringConvertible, Sendable {
        let type: String
        let ggml_type: UInt32
        let columns: Int
        let blocks: String
        let values: String
        var testDescription: String { type }
    }

    struct Fixture: Decodable {
        let cases: [Case]
    }

    static let cases: [Case] = {
        guard let url = Bundle.module.url(forResource: "dequantize-gguf", withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url),
              let fixture = try? JSONDecoder().decode(Fixture.self, from: data)
        else { return [] }
        return fixture.cases
    }()

    @Test func theFixtureCoversEveryQuantizedType() {
        let names = Set(Self.cases.map(\.type))
        #expect(names == ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"])
    }

    @Test(arguments: cases)
    func matchesGGUFBitForBit(_ testCase: Case) throws {
        let type = skiff_type(rawValue: testCase.ggml_type)
        let blocks = try #require(Data(base64Encoded: testCase.blocks))
        let expectedBytes = try #require(Data(base64Encoded: testCase.values))
        let expected = expectedBytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(expected.count == testCase.columns)
        #expect(skiff_row_bytes(type, Int64(testCase.columns)) == blocks.count)
        var out = [Float](repeating: .nan, count: testCase.columns)
        blocks.withUnsafeBytes { skiff_dequantize_row(type, $0.baseAddress, &out, Int64(testCase.columns)) }
        let mismatches = (0 ..< out.count).filter { out[$0].bitPattern != expected[$0].bitPattern }
        #expect(mismatches.isEmpty, "\(mismatches.count) values differ, first at \(mismatches.first ?? 0): \(mismatches.first.map { "\(out[$0]) vs \(expected[$0])" } ?? "")")
    }
}

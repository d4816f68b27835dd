import Foundation
import GGUFTestSupport
import Testing
@testable import SkiffGGUF

@Suite struct GGUFFileTests {
    static let everyValueType: [(String, GGUFValue)] = [
        ("t.u8", .uint8(200)), ("t.i8", .int8(-5)), ("t.u16", .uint16(60000)), ("t.i16", .int16(-300)),
        ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-70000)), ("t.f32", .float32(1.5)),
        ("t.bool", .bool(true)), ("t.str", .string("héllo ✓")),
        ("t.arr", .array([.string("a"), .string("b")])),
        ("t.nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])])),
        ("t.u64", .uint64(1 << 40)), ("t.i64", .int64(-(1 << 40))), ("t.f64", .float64(2.25)),
    ]

    func validBuilder() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.entries = Self.everyValueType + [("general.architecture", .string("llama"))]
        b.tensors = [
            .init(name: "a.weight", dimensions: [64, 3], typeID: 3, dataBytes: 2 * 20 * 3),
            .init(name: "b.weight", dimensions: [5], typeID: 0, dataBytes: 20),
        ]
        return b
    }

    @Test func readsEveryValueTypeAndTensors() throws {
        let file = try parse(validBuilder().build())
        #expect(file.version == 3)
        for (key, value) in Self.everyValueType {
            #expect(file.metadata[key] == value, "key \(key)")
        }
        #expect(file.metadata.keys.first == "t.u8")
        #expect(file.architecture == "llama")
        #expect(file.metadata.strings("t.arr") == ["a", "b"])
        #expect(file.metadata.int("t.u32") == 4_000_000_000)
        #expect(file.metadata.double("t.f32") == 1.5)
        #expect(file.tensors.count == 2)
        let a = try #require(file.tensor(named: "a.weight"))
        #expect(a.type == .q4_1)
        #expect(a.dimensions == [64, 3])
        #expect(a.rowLength == 64 && a.rowCount == 3)
        #expect(a.byteCount == 120)
        #expect(a.fileOffset % 32 == 0)
        let data = file.data(of: a)
        #expect(data.count == 120)
        #expect(data[1] == 1 && data[2] == 2)
        let b = try #require(file.tensor(named: "b.weight"))
        #expect(file.data(of: b)[0] == 31)
    }

    @Test func readsVersion2AndCustomAlignment() throws {
        var b = validBuilder()
        b.version = 2
        b.alignment = 64
        b.entries.append(("general.alignment", .uint32(64)))
        let file = try parse(b.build())
        #expect(file.version == 2)
        #expect(file.alignment == 64)
        #expect(file.tensors.allSatisfy { $0.fileOffset % 64 == 0 })
    }

    @Test func rejectsBadMagic() {
        var b = validBuilder()
        b.magic = Array("GGML".utf8)
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .badMagic }
    }

    @Test func rejectsUnsupportedVersion() {
        var b = validBuilder()
        b.version = 7
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .unsupportedVersion }
    }

    @Test func rejectsEveryTruncation() throws {
        let full = validBuilder().build()
        _ = try parse(full)
        for length in stride(from: 1, to: full.count, by: 1) {
            #expect(throws: GGUFError.self, "prefix of \(length) bytes") { try parse(full.prefix(length)) }
        }
    }

    @Test func rejectsAbsurdCounts() {
        var b = validBuilder()
        b.tensorCountOverride = UInt64.max / 2
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .implausibleCount }
        b = validBuilder()
        b.metadataCountOverride = 1 << 60
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .implausibleCount }
    }

    @Test func rejectsAbsurdArrayLength() {
        var data = Data("GGUF".utf8)
        data.append(le: UInt32(3)); data.append(le: UInt64(0)); data.append(le: UInt64(1))
        data.appendString("huge"); data.append(le: UInt32(9)); data.append(le: UInt32(10)); data.append(le: UInt64(1) << 61)
        #expect { try parse(data) } throws: { ($0 as? GGUFError)?.code == .implausibleCount }
    }

    @Test func rejectsAbsurdStringLength() {
        var data = Data("GGUF".utf8)
        data.append(le: UInt32(3)); data.append(le: UInt64(0)); data.append(le: UInt64(1))
        data.append(le: UInt64.max); data.append(contentsOf: [UInt8](repeating: 1, count: 32))
        #expect { try parse(data) } throws: { ($0 as? GGUFError)?.code == .truncated }
    }

    @Test func rejectsTensorPastEndOfFile() {
        var b = validBuilder()
        b.tensors[1].relativeOffset = 1 << 20
        #expect { try parse(b.build().prefix(700)) } throws: { ($0 as? GGUFError)?.code == .invalidTensor }
        let built = validBuilder().build()
        #expect { try parse(built.dropLast(4)) } throws: { error in
            let e = error as? GGUFError
            return e?.code == .invalidTensor && e?.message.contains("b.weight") == true
        }
    }

    @Test func rejectsUnknownTensorType() {
        var b = validBuilder()
        b.tensors[0].typeID = 4
        #expect { try parse(b.build()) } throws: { error in
            (error as? GGUFError)?.code == .unknownTensorType && "\(error)".contains("a.weight")
        }
    }

    @Test func rejectsMisalignedOffsetAndBadShapes() {
        var b = validBuilder()
        b.tensors[1].relativeOffset = 3
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .invalidTensor }
        b = validBuilder()
        b.tensors[0].dimensions = [48, 3]
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .invalidTensor }
        b = validBuilder()
        b.tensors[0].dimensions = [32, 0]
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .invalidTensor }
        b = validBuilder()
        b.tensors[0].dimensions = [32, 1, 1, 1, 1]
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .invalidTensor }
        b = validBuilder()
        b.tensors[0].dimensions = [1 << 30, 1 << 30, 1 << 30]
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .invalidTensor }
    }

    @Test func rejectsDuplicateTensorNames() {
        var b = validBuilder()
        b.tensors[1].name = "a.weight"
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .invalidTensor }
    }

    @Test func rejectsInvalidValues() {
        var data = Data("GGUF".utf8)
        data.append(le: UInt32(3)); data.append(le: UInt64(0)); data.append(le: UInt64(1))
        data.appendString("flag"); data.append(le: UInt32(7)); data.append(UInt8(2))
        #expect { try parse(data) } throws: { ($0 as? GGUFError)?.code == .invalidValue }

        data = Data("GGUF".utf8)
        data.append(le: UInt32(3)); data.append(le: UInt64(0)); data.append(le: UInt64(1))
        data.appendString("k"); data.append(le: UInt32(99)); data.append(contentsOf: [UInt8](repeating: 0, count: 16))
        #expect { try parse(data) } throws: { ($0 as? GGUFError)?.code == .invalidValue }

        data = Data("GGUF".utf8)
        data.append(le: UInt32(3)); data.append(le: UInt64(0)); data.append(le: UInt64(1))
        data.append(le: UInt64(2)); data.append(contentsOf: [0xC3, 0x28]); data.append(le: UInt32(0)); data.append(0)
        #expect { try parse(data) } throws: { ($0 as? GGUFError)?.code == .invalidValue }

        var b = validBuilder()
        b.entries.append(("general.alignment", .uint32(12)))
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .invalidValue }
    }

    @Test func alignmentIsAPowerOfTwoFrom8() throws {
        for bad: GGUFValue in [.uint32(24), .uint32(12), .uint32(0), .uint32(4), .uint32(1 << 21), .int64(-32), .string("32")] {
            var b = validBuilder()
            b.entries.append(("general.alignment", bad))
            let error = #expect(throws: GGUFError.self, "\(bad)") { try parse(b.build()) }
            #expect(error?.code == .invalidValue)
            #expect(error?.message == "GGUF key 'general.alignment' is \(bad); it must be a power of two from 8 to 1048576")
        }
        var b = validBuilder()
        b.alignment = 16
        b.entries.append(("general.alignment", .uint32(16)))
        #expect(try parse(b.build()).alignment == 16)
        #expect(GGUFValue.uint32(24).description == "24")
    }

    @Test func rejectsTensorsThatShareBytes() {
        var b = validBuilder()
        b.tensors[1].relativeOffset = 64  // inside a.weight, which takes bytes 0 to 120 of the data
        let error = #expect(throws: GGUFError.self) { try parse(b.build()) }
        #expect(error?.code == .invalidTensor)
        #expect(error?.message.contains("'b.weight'") == true && error?.message.contains("inside tensor 'a.weight'") == true)
        b = validBuilder()
        b.tensors[1].relativeOffset = 0
        #expect(throws: GGUFError.self) { try parse(b.build()) }
    }

    /// The checked readers name the key and the value, and what would do.
    @Test func checkedMetadataReaders() throws {
        var b = validBuilder()
        b.entries += [("m.count", .uint32(0)), ("m.big", .uint64(UInt64.max)), ("m.eps", .float32(.nan)),
                       ("m.base", .float64(-1)), ("m.flag", .uint8(1)), ("m.name", .array([.string("x")]))]
        let m = try parse(b.build()).metadata
        #expect(try m.int("t.u32", in: 1 ... 4_000_000_000) == 4_000_000_000)
        #expect(try m.int("absent", in: 1 ... 2) == nil)
        #expect(try m.positiveNumber("t.f32") == 1.5)
        #expect(try m.checkedBool("t.bool") == true)
        #expect(try m.checkedString("t.str") == "héllo ✓")
        let cases: [(() throws(GGUFError) -> Void, String)] = [
            ({ () throws(GGUFError) in _ = try m.int("m.count", in: 1 ... 10) }, "GGUF key 'm.count' is 0; it must be an integer from 1 to 10"),
            ({ () throws(GGUFError) in _ = try m.int("m.big", in: 1 ... 10) },
             "GGUF key 'm.big' is 18446744073709551615; it must be an integer from 1 to 10"),
            ({ () throws(GGUFError) in _ = try m.int("t.str", in: 1 ... 10) }, "GGUF key 't.str' is \"héllo ✓\"; it must be an integer from 1 to 10"),
            ({ () throws(GGUFError) in _ = try m.positiveNumber("m.eps") }, "GGUF key 'm.eps' is nan; it must be a finite number above 0"),
            ({ () throws(GGUFError) in _ = try m.positiveNumber("m.base") }, "GGUF key 'm.base' is -1.0; it must be a finite number above 0"),
            ({ () throws(GGUFError) in _ = try m.checkedBool("m.flag") }, "GGUF key 'm.flag' is 1; it must be a boolean"),
            ({ () throws(GGUFError) in _ = try m.checkedString("m.name") }, "GGUF key 'm.name' is an array of 1 values; it must be a string"),
        ]
        for (read, message) in cases {
            do {
                try read()
                Issue.record("no error; expected \(message)")
            } catch {
                #expect(error.code == .invalidValue)
                #expect(error.message == message)
            }
        }
    }

    @Test func rejectsDeeplyNestedArrays() {
        var value = GGUFValue.int32(1)
        for _ in 0 ..< 20 { value = .array([value]) }
        var b = validBuilder()
        b.entries = [("deep", value)]
        #expect { try parse(b.build()) } throws: { ($0 as? GGUFError)?.code == .invalidValue }
    }

    @Test func rejectsMissingAndEmptyFiles() throws {
        #expect { try GGUFFile(path: "/nonexistent/model.gguf") } throws: { ($0 as? GGUFError)?.code == .unreadable }
        #expect { try parse(Data()) } throws: { ($0 as? GGUFError)?.code == .truncated }
    }

    /// Random byte flips in a valid file never crash the reader: they parse or throw.
    @Test func survivesRandomCorruption() {
        let full = validBuilder().build()
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 300 {
            var corrupt = full
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &generator) {
                let i = Int.random(in: 0 ..< corrupt.count, using: &generator)
                corrupt[i] = UInt8.random(in: 0 ... 255, using: &generator)
            }
            _ = try? parse(corrupt)
        }
    }
}

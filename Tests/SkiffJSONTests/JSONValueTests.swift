import SkiffJSON
import Testing

@Suite struct JSONValueTests {
    @Test func objectsKeepTheirMembersInDocumentOrder() throws {
        let value = try JSONValue(parsing: #"{"zebra": 1, "apple": {"y": true, "b": null}, "mango": [1.5, "x"]}"#)
        #expect(value.objectValue?.keys == ["zebra", "apple", "mango"])
        #expect(value["apple"]?.objectValue?.keys == ["y", "b"])
        #expect(value["mango"] == [1.5, "x"])
        #expect(value.jsonText == #"{"zebra":1,"apple":{"y":true,"b":null},"mango":[1.5,"x"]}"#)
    }

    @Test func aRepeatedKeyKeepsItsFirstPlaceAndItsLastValue() throws {
        let value = try JSONValue(parsing: #"{"a": 1, "b": 2, "a": 3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == 3)
    }

    @Test func numbersAreIntegersWhenTheyFitAndCompareByValue() throws {
        #expect(try JSONValue(parsing: "42") == .int(42))
        #expect(try JSONValue(parsing: "-0.25") == .double(-0.25))
        #expect(try JSONValue(parsing: "1e3") == .double(1000))
        #expect(try JSONValue(parsing: "123456789012345678901234567890").numberValue == 1.2345678901234568e29)
        #expect(JSONValue.int(1) == JSONValue.double(1.0))
        #expect(Set<JSONValue>([.int(1), .double(1.0)]).count == 1)
        #expect(JSONValue.double(3.0).integerValue == 3)
        #expect(JSONValue.double(3.5).integerValue == nil)
    }

    @Test func stringsReadEscapesAndWriteThemBack() throws {
        let value = try JSONValue(parsing: #""a\"b\\c\n\u00e9\ud83d\ude00\u0001""#)
        #expect(value == .string("a\"b\\c\né😀\u{01}"))
        #expect(value.jsonText == #""a\"b\\c\né😀\u0001""#)
        #expect(try JSONValue(parsing: value.jsonText) == value)
    }

    @Test(arguments: [
        ("{\"a\": }", 1, 7, "unexpected character"),
        ("[1,\n 2,\n x]", 3, 2, "unexpected character"),
        ("\"open", 1, 6, "never closed"),
        ("1 2", 1, 3, "unexpected text after"),
        ("01", 1, 2, "unexpected text after"),
        ("{\"é\": tru}", 1, 10, "expected 'true'"),
        ("1e999", 1, 6, "out of range"),
    ])
    func malformedTextIsRefusedWithItsPlace(text: String, line: Int, column: Int, words: String) {
        #expect {
            try JSONValue(parsing: text)
        } throws: { error in
            guard let error = error as? JSONError else { return false }
            return error.line == line && error.column == column && error.message.contains(words)
        }
    }

    @Test func nestingPastTheLimitIsRefused() throws {
        let deep = String(repeating: "[", count: JSONValue.maxDepth + 1) + String(repeating: "]", count: JSONValue.maxDepth + 1)
        #expect(throws: JSONError.self) { try JSONValue(parsing: deep) }
        let allowed = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        #expect(try JSONValue(parsing: allowed).arrayValue?.count == 1)
    }

    @Test func membersCanBeSetAndRemoved() {
        var object = JSONObject([("a", 1), ("b", 2)])
        object["c"] = 3
        object["a"] = nil
        object["b"] = "two"
        #expect(object.keys == ["b", "c"])
        #expect(JSONValue.object(object).jsonText == #"{"b":"two","c":3}"#)
    }
}

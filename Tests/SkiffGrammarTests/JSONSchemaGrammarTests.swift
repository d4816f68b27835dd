import Foundation
import PythonTestSupport
import SkiffGrammar
import SkiffJSON
import Testing

@Suite struct JSONSchemaGrammarTests {
    /// Schemas, each with texts it must accept and texts it must refuse.
    static let cases: [(schema: String, valid: [String], invalid: [String])] = [
        (#"{"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}"#,
         [#"{"name":"Ada"}"#, #"{"name":"Ada","age":36}"#, "{\"name\": \"A\\\"b\",\n  \"age\": -3}"],
         [#"{}"#, #"{"age":36,"name":"Ada"}"#, #"{"name":"Ada","extra":1}"#, #"{"name":"Ada","age":3.5}"#, #" {"name":"Ada"}"#]),
        (#"{"type": "array", "items": {"enum": ["red", "green", 3, null]}, "minItems": 1, "maxItems": 3}"#,
         [#"["red"]"#, #"[3, null, "green"]"#],
         [#"[]"#, #"["blue"]"#, #"["red","red","red","red"]"#]),
        (##"{"$defs": {"node": {"type": "object", "properties": {"value": {"type": "number"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["value", "next"]}}, "$ref": "#/$defs/node"}"##,
         [#"{"value":1,"next":null}"#, #"{"value":1.5e3,"next":{"value":-2,"next":null}}"#],
         [#"{"value":1}"#, #"{"value":1,"next":{"value":2}}"#]),
        (#"{"type": "object", "properties": {"a": {"const": "x"}, "b": {"type": "boolean"}}, "additionalProperties": {"type": "integer"}}"#,
         [#"{}"#, #"{"a":"x"}"#, #"{"b":true,"c":4}"#, #"{"zz":1,"ab":2}"#],
         [#"{"a":"y"}"#, #"{"c":"4"}"#, #"{"a":"x","a":1}"#, #"{"b":true,"b":1}"#]),
        (#"{"type": "string", "minLength": 2, "maxLength": 4}"#, [#""ab""#, #""a\nbc""#, #""éèêë""#], [#""a""#, #""abcde""#]),
        (#"{"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"}"#, [#""AB-123""#], [#""AB-12""#, #""ab-123""#, #""xAB-123""#]),
        (#"{"type": "string", "pattern": "b\"c"}"#, [#""b\"c""#, #""ab\"cd""#], [#""bc""#, #""b"c""#]),
        (#"{"type": "string", "format": "date-time"}"#, [#""2026-12-07T23:59:59Z""#, #""1999-01-31T00:00:00.5+02:00""#], [#""2026-13-07T00:00:00Z""#, #""2026-12-07""#]),
        (#"{"type": "string", "format": "uuid"}"#, [#""123e4567-e89b-12d3-a456-426614174000""#], [#""123e4567e89b12d3a456426614174000""#]),
        (#"{"type": "integer", "minimum": -12, "exclusiveMaximum": 100}"#, ["-12", "0", "99", "7"], ["-13", "100", "1.0", "-0", "007"]),
        (#"{"type": "number", "exclusiveMinimum": 0, "maximum": 1}"#, ["0.5", "1", "1.000", "0.001"], ["0", "0.0", "1.5", "-0.5", "2"]),
        (#"{"type": ["string", "null"]}"#, [#""x""#, "null"], ["1", "true"]),
        (#"{"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false, "minItems": 1}"#,
         ["[1]", #"[1,"a"]"#], ["[]", #"[1,"a",2]"#, #"["a"]"#]),
        (#"{"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"properties": {"b": {"type": "integer"}}}]}"#,
         [#"{"a":1}"#, #"{"a":1,"b":2}"#], [#"{"b":2}"#]),
        ("true", ["1", #"{"a":[true,null]}"#, #""s""#], ["tru", "{a:1}"]),
    ]

    @Test func schemasAcceptTheirValuesAndRefuseOthers() throws {
        for (schema, valid, invalid) in Self.cases {
            let grammar = try Grammar(jsonSchema: try JSONValue(parsing: schema))
            for text in valid { #expect(try matches(grammar, text), "\(schema) should accept \(text)") }
            for text in invalid { #expect(try !matches(grammar, text), "\(schema) should refuse \(text)") }
        }
    }

    @Test func jsonModeAcceptsAnyObjectOnly() throws {
        #expect(try matches(.jsonObject, #"{"a": [1, {"b": null}], "c": "d"}"#))
        #expect(try matches(.jsonObject, "{}"))
        for text in ["[]", "1", #""x""#, "{", #"{"a"}"#] { #expect(try !matches(.jsonObject, text), "\(text)") }
    }

    @Test func integerBoundsHoldForEveryNumberNearThem() throws {
        for (low, high) in [(0, 9), (7, 7), (-5, 5), (10, 99), (13, 2025), (-120, -7), (0, 1000)] as [(Int?, Int?)] + [(nil, 12), (95, nil), (nil, -3)] {
            var schema: JSONObject = ["type": "integer"]
            if let low { schema["minimum"] = .int(low) }
            if let high { schema["maximum"] = .int(high) }
            let grammar = try CompiledGrammar(try Grammar(jsonSchema: .object(schema)), trie: testTrie)
            for value in -150 ... 2100 {
                let expected = (low.map { value >= $0 } ?? true) && (high.map { value <= $0 } ?? true)
                #expect(matches(grammar, String(value)) == expected, "\(value) in \(String(describing: low))...\(String(describing: high))")
            }
        }
    }

    @Test func randomAnswersFromTheGrammarValidateWithJSONSchema() async throws {
        var generator = SeededGenerator(seed: 7)
        var batches: [JSONValue] = []
        var produced = 0
        for (schema, _, _) in Self.cases {
            let grammar = try CompiledGrammar(try Grammar(jsonSchema: try JSONValue(parsing: schema)), trie: testTrie)
            var texts: [JSONValue] = []
            for _ in 0 ..< 40 {
                if let text = randomText(grammar, using: &generator) { texts.append(.string(text)) }
            }
            produced += texts.count
            batches.append(["schema": try JSONValue(parsing: schema), "instances": .array(texts)])
        }
        #expect(produced > Self.cases.count * 20, "most random walks should end")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-grammar-\(UUID().uuidString).json")
        try JSONValue.array(batches).jsonText.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let bin = try await PythonTools.binDirectory()
        let script = PythonTools.packageRoot.appendingPathComponent("Tests/SkiffGrammarTests/Python/validate.py")
        try await PythonTools.run(bin.appendingPathComponent("python").path, [script.path, file.path])
    }

    @Test(arguments: [
        (#"{"type": "integer", "multipleOf": 3}"#, "multipleOf"),
        (#"{"not": {"type": "string"}}"#, "not"),
        (#"{"type": "array", "uniqueItems": true}"#, "uniqueItems"),
        (#"{"type": "string", "format": "ipv6"}"#, "format"),
        (#"{"$ref": "https://example.com/schema.json"}"#, "$ref"),
        (#"{"type": "number", "minimum": 0.5}"#, "minimum"),
        (#"{"type": "object", "patternProperties": {"^x": {}}}"#, "patternProperties"),
        (#"{"type": "string", "pattern": "(a)\\1"}"#, nil),
    ])
    func unsupportedKeywordsAreNamed(schema: String, keyword: String?) throws {
        #expect {
            try Grammar(jsonSchema: try JSONValue(parsing: schema))
        } throws: { error in
            guard let error = error as? GrammarError else { return false }
            if let keyword { return error.code == .unsupportedSchema && error.keyword == keyword && error.message.contains("'\(keyword)'") }
            return error.code == .invalidRegex && error.message.contains("backreferences")
        }
    }

    @Test(arguments: [##"{"type": 5}"##, ##"{"$ref": "#/$defs/missing"}"##, ##"{"enum": []}"##, ##"{"type": "object", "required": "a"}"##, ##"[1]"##])
    func invalidSchemasAreRefused(schema: String) {
        #expect {
            try Grammar(jsonSchema: try JSONValue(parsing: schema))
        } throws: { error in
            (error as? GrammarError)?.code == .invalidSchema
        }
    }

    @Test func aSchemaGrammarPrintsAsGBNFThatReadsBack() throws {
        for (schema, valid, invalid) in Self.cases.prefix(6) {
            let grammar = try Grammar(gbnf: try Grammar(jsonSchema: try JSONValue(parsing: schema)).gbnf)
            for text in valid { #expect(try matches(grammar, text)) }
            for text in invalid { #expect(try !matches(grammar, text)) }
        }
    }

    @Test func regularExpressions() throws {
        let cases: [(String, [String], [String])] = [
            (#"[A-Z]{2}-\d{3}"#, ["AB-123"], ["AB-12", "ab-123", "AB-1234"]),
            (#"(ab|cd)+e?"#, ["ab", "cdabe"], ["", "abc", "e"]),
            (#"a.c"#, ["abc", "a€c"], ["a\nc", "ac"]),
            (#"^\u00e9\x41[^\s\d]*$"#, ["éA", "éAxy"], ["éA1", "éA b"]),
            (#"(?:x|y){2,}?z"#, ["xyz", "yyyz"], ["xz", "z"]),
        ]
        for (pattern, valid, invalid) in cases {
            let grammar = try Grammar(regex: pattern)
            for text in valid { #expect(try matches(grammar, text), "/\(pattern)/ should match \(text)") }
            for text in invalid { #expect(try !matches(grammar, text), "/\(pattern)/ should not match \(text)") }
        }
        for pattern in ["(?=a)b", "a\\bc", "(a", "a{3,1}", "[b-a]", "\\p{L}"] {
            #expect(throws: GrammarError.self, "\(pattern)") { try Grammar(regex: pattern) }
        }
    }
}

/// A walk through the grammar by random allowed tokens, preferring tokens that close what is open; nil when it
/// does not end within 400 tokens.
func randomText(_ grammar: CompiledGrammar, using generator: inout SeededGenerator) -> String? {
    var matcher = GrammarMatcher(grammar)
    var bytes: [UInt8] = []
    let closing = Set(["\"", "}", "]", "0", "1", "null", "true"].map { Array($0.utf8) })
    for _ in 0 ..< 400 {
        if matcher.mustEnd || (matcher.canEnd && Double.random(in: 0 ..< 1, using: &generator) < 0.5) {
            return String(decoding: bytes, as: UTF8.self)
        }
        let mask = matcher.allowedTokens()
        let allowed = (0 ..< Int32(testTokens.count)).filter { mask.contains($0) }
        guard !allowed.isEmpty else { return nil }
        let preferred = allowed.filter { closing.contains(testTokens[Int($0)]!) }
        let pool = !preferred.isEmpty && Double.random(in: 0 ..< 1, using: &generator) < 0.3 ? preferred : allowed
        let token = pool.randomElement(using: &generator)!
        _ = matcher.accept(token)
        bytes += testTokens[Int(token)]!
    }
    return nil
}

/// SplitMix64: reproducible random walks.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

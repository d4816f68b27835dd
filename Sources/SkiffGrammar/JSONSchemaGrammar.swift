import SkiffJSON

// JSON Schema (draft 2020-12 and the subset OpenAI's structured outputs use) as a grammar of the JSON texts that
// validate. What generation writes, where a schema leaves a choice:
// - objects list their properties in the schema's order; optional ones may be left out; properties the schema does
//   not declare are written only when `additionalProperties` is true or a schema (JSON Schema's default, absent,
//   allows them, but a model told to fill in a schema should not invent keys);
// - whitespace between tokens is nothing, a space, or a line break and up to 20 spaces or tabs (bounded, so a
//   model cannot stall in whitespace), never before the first value or after the last;
// - numbers have at most 16 integer digits, 16 fraction digits and 3 exponent digits (llama.cpp's bounds);
// - `oneOf` is read as `anyOf`: an answer matching two branches is not prevented.
// Annotations (title, description, examples, default, $schema, $id, $comment, deprecated, readOnly, writeOnly...)
// are ignored, and so are keywords JSON Schema does not define (as the specification says to); every keyword it
// defines is enforced or refused.

extension Grammar {
    /// The grammar of JSON texts valid under `schema`.
    /// - Throws: `GrammarError` `.unsupportedSchema` naming the first keyword (or keyword value) Skiff cannot enforce,
    ///   `.invalidSchema` for a schema that is not valid JSON Schema (a keyword of the wrong type, a `$ref` to
    ///   nowhere), `.invalidRegex` for a `pattern` that cannot be used.
    public init(jsonSchema schema: JSONValue) throws(GrammarError) {
        var compiler = JSONSchemaCompiler(root: schema)
        let root = compiler.newRule("root")
        compiler.define(root, try compiler.compile(schema, at: "#"))
        self.init(rules: compiler.rules, root: root)
        try checkUsable()
    }

    /// The grammar of any JSON object (OpenAI's JSON mode, `response_format: {"type": "json_object"}`).
    public static let jsonObject: Grammar = {
        var compiler = JSONSchemaCompiler(root: true)
        let root = compiler.newRule("root")
        compiler.define(root, compiler.anyObject())
        return Grammar(rules: compiler.rules, root: root)
    }()
}

struct JSONSchemaCompiler {
    let root: JSONValue
    private(set) var rules: [Grammar.Rule] = []
    private var usedNames: Set<String> = []
    private var references: [String: Int] = [:]
    private var shared: [String: Int] = [:]

    /// Keywords that only describe.
    static let annotations: Set<String> = ["title", "description", "examples", "default", "$schema", "$id", "$comment", "deprecated",
                                           "readOnly", "writeOnly", "$anchor", "contentMediaType", "discriminator", "strict"]
    /// Keywords JSON Schema defines that a grammar cannot enforce (or that Skiff does not): refused, naming them.
    static let refused: Set<String> = ["not", "if", "then", "else", "multipleOf", "patternProperties", "propertyNames", "dependentRequired",
                                       "dependentSchemas", "dependencies", "unevaluatedProperties", "unevaluatedItems", "minProperties",
                                       "maxProperties", "contains", "minContains", "maxContains", "$dynamicRef", "$dynamicAnchor",
                                       "$recursiveRef", "$recursiveAnchor", "contentSchema"]
    /// Keywords read where they apply (checked per type below), and those that hold definitions.
    static let structural: Set<String> = ["type", "enum", "const", "properties", "required", "additionalProperties", "items", "prefixItems",
                                          "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
                                          "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref", "$defs",
                                          "definitions", "nullable", "uniqueItems"]

    init(root: JSONValue) {
        self.root = root
    }

    mutating func newRule(_ name: String) -> Int {
        var base = name.map { $0.isLetter || $0.isNumber ? $0 : "-" }.reduce(into: "") { $0.append($1) }
        if base.isEmpty { base = "rule" }
        var unique = base
        var n = 2
        while usedNames.contains(unique) {
            unique = "\(base)-\(n)"
            n += 1
        }
        usedNames.insert(unique)
        rules.append(Grammar.Rule(name: unique, body: .empty))
        return rules.count - 1
    }

    mutating func define(_ rule: Int, _ body: GrammarExpression) {
        rules[rule].body = body
    }

    /// A rule made once per grammar (whitespace, strings, numbers, any value).
    mutating func sharedRule(_ name: String, _ make: (inout JSONSchemaCompiler) -> GrammarExpression) -> GrammarExpression {
        if let known = shared[name] { return .rule(known) }
        let rule = newRule(name)
        shared[name] = rule
        define(rule, make(&self))
        return .rule(rule)
    }

    // MARK: Primitives

    mutating func ws() -> GrammarExpression {
        sharedRule("ws") { _ in
            .choice([.empty, .literal(" "), .sequence([.literal("\n"), .repetition(.characters(CharacterRanges([0x20 ... 0x20, 0x09 ... 0x09])), min: 0, max: 20)])])
        }
    }

    /// One character of a JSON string's text, escapes included.
    mutating func stringCharacter() -> GrammarExpression {
        sharedRule("char") { _ in
            let plain = CharacterRanges([0x22 ... 0x22, 0x5C ... 0x5C, 0x00 ... 0x1F]).complement
            let hex = GrammarExpression.characters(CharacterRanges([0x30 ... 0x39, 0x41 ... 0x46, 0x61 ... 0x66]))
            return .choice([
                .characters(plain),
                .sequence([.literal("\\"), .choice([.characters(CharacterRanges(Array("\"\\/bfnrt".unicodeScalars).map { $0.value ... $0.value })),
                                                    .sequence([.literal("u"), .repetition(hex, min: 4, max: 4)])])]),
            ])
        }
    }

    mutating func anyString() -> GrammarExpression {
        let character = stringCharacter()
        return sharedRule("string") { _ in .sequence([.literal("\""), .repetition(character, min: 0, max: nil), .literal("\"")]) }
    }

    static let digit = GrammarExpression.characters(CharacterRanges([0x30 ... 0x39]))
    static let nonZeroDigit = GrammarExpression.characters(CharacterRanges([0x31 ... 0x39]))

    mutating func integerPart() -> GrammarExpression {
        sharedRule("integral") { _ in .choice([.literal("0"), .sequence([Self.nonZeroDigit, .repetition(Self.digit, min: 0, max: 15)])]) }
    }

    mutating func anyInteger() -> GrammarExpression {
        let integral = integerPart()
        return sharedRule("integer") { _ in .sequence([.optional(.literal("-")), integral]) }
    }

    mutating func anyNumber() -> GrammarExpression {
        let integral = integerPart()
        return sharedRule("number") { _ in
            .sequence([.optional(.literal("-")), integral, .optional(.sequence([.literal("."), .repetition(Self.digit, min: 1, max: 16)])),
                       .optional(.sequence([.characters(CharacterRanges([0x45 ... 0x45, 0x65 ... 0x65])),
                                            .optional(.characters(CharacterRanges([0x2B ... 0x2B, 0x2D ... 0x2D]))),
                                            .repetition(Self.digit, min: 1, max: 3)]))])
        }
    }

    mutating func anyValue() -> GrammarExpression {
        if let known = shared["value"] { return .rule(known) }
        let rule = newRule("value")
        shared["value"] = rule
        let object = anyObject()
        let array = sharedRule("array") { c in
            let ws = c.ws()
            let item = GrammarExpression.rule(rule)
            return .sequence([.literal("["), ws, .optional(.sequence([item, .repetition(.sequence([ws, .literal(","), ws, item]), min: 0, max: nil)])),
                              ws, .literal("]")])
        }
        define(rule, .choice([object, array, anyString(), anyNumber(), .literal("true"), .literal("false"), .literal("null")]))
        return .rule(rule)
    }

    mutating func anyObject() -> GrammarExpression {
        if let known = shared["object"] { return .rule(known) }
        let rule = newRule("object")
        shared["object"] = rule
        let ws = ws()
        let member = GrammarExpression.sequence([anyString(), ws, .literal(":"), ws, anyValue()])
        define(rule, .sequence([.literal("{"), ws, .optional(.sequence([member, .repetition(.sequence([ws, .literal(","), ws, member]), min: 0, max: nil)])),
                                ws, .literal("}")]))
        return .rule(rule)
    }

    // MARK: Schemas

    func unsupported(_ keyword: String, at path: String, _ why: String) -> GrammarError {
        GrammarError(.unsupportedSchema, "the JSON schema keyword '\(keyword)' at \(path) is not supported: \(why)", keyword: keyword)
    }

    func invalid(_ path: String, _ why: String) -> GrammarError {
        GrammarError(.invalidSchema, "the JSON schema at \(path) is not valid: \(why)")
    }

    /// The expression for the values `schema` (found at JSON pointer `path`) accepts.
    mutating func compile(_ schema: JSONValue, at path: String) throws(GrammarError) -> GrammarExpression {
        if case .bool(let allowed) = schema { return allowed ? anyValue() : .choice([]) }
        guard let object = schema.objectValue else { throw invalid(path, "a schema must be an object or a boolean, not \(schema.typeName)") }
        for key in object.keys where Self.refused.contains(key) {
            throw unsupported(key, at: path, Self.refusal(key))
        }
        if let reference = object["$ref"] {
            guard let target = reference.stringValue else { throw invalid(path, "$ref must be a string") }
            let rest = object.keys.filter { $0 != "$ref" && Self.structural.contains($0) && $0 != "$defs" && $0 != "definitions" }
            guard rest.isEmpty else {
                throw unsupported(rest[0], at: path, "keywords beside $ref are not combined with the referenced schema; move them into it")
            }
            return .rule(try referenceRule(target, at: path))
        }
        if let nullable = object["nullable"] {
            guard let flag = nullable.boolValue else { throw invalid(path, "nullable must be a boolean") }
            if flag {
                var rest = object
                rest["nullable"] = nil
                return .choice([try compile(.object(rest), at: path), .literal("null")])
            }
        }
        if let constant = object["const"] { return try literal(constant, allowedBy: object, at: path) }
        if let options = object["enum"] {
            guard let values = options.arrayValue, !values.isEmpty else { throw invalid(path, "enum must be a non-empty array") }
            return .choice(try values.map { (value: JSONValue) throws(GrammarError) in try literal(value, allowedBy: object, at: path) })
        }
        for keyword in ["anyOf", "oneOf"] {
            guard let branches = object[keyword] else { continue }
            guard let list = branches.arrayValue, !list.isEmpty else { throw invalid(path, "\(keyword) must be a non-empty array") }
            let rest = object.keys.filter { Self.structural.contains($0) && $0 != keyword && $0 != "$defs" && $0 != "definitions" }
            guard rest.isEmpty else {
                throw unsupported(rest[0], at: path, "keywords beside \(keyword) are not combined with its branches; move them into each branch")
            }
            var alternatives: [GrammarExpression] = []
            for (i, branch) in list.enumerated() { alternatives.append(try compile(branch, at: "\(path)/\(keyword)/\(i)")) }
            return .choice(alternatives)
        }
        if let parts = object["allOf"] {
            return try compile(try merged(allOf: parts, into: object, at: path), at: path)
        }
        let types = try self.types(of: object, at: path)
        var alternatives: [GrammarExpression] = []
        for type in types {
            switch type {
            case "null": alternatives.append(.literal("null"))
            case "boolean": alternatives.append(.choice([.literal("true"), .literal("false")]))
            case "string": alternatives.append(try string(object, at: path))
            case "integer": alternatives.append(try integer(object, at: path))
            case "number": alternatives.append(try number(object, at: path))
            case "array": alternatives.append(try array(object, at: path))
            case "object": alternatives.append(try self.object(object, at: path))
            default: throw invalid(path, "unknown type '\(type)'")
            }
        }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    static func refusal(_ keyword: String) -> String {
        switch keyword {
        case "not", "if", "then", "else": "a grammar cannot exclude what a subschema matches"
        case "multipleOf": "a grammar cannot enforce divisibility"
        case "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "unevaluatedProperties",
             "minProperties", "maxProperties": "declare the properties with properties, required and additionalProperties"
        case "contains", "minContains", "maxContains", "unevaluatedItems": "describe every item with items or prefixItems"
        default: "describe the value with the keywords docs/structured-output.md lists"
        }
    }

    /// The types a schema allows: its `type`, or those its keywords imply, or every type.
    func types(of object: JSONObject, at path: String) throws(GrammarError) -> [String] {
        if let type = object["type"] {
            if let name = type.stringValue { return [name] }
            if let names = type.arrayValue {
                let strings = names.compactMap(\.stringValue)
                guard strings.count == names.count, !strings.isEmpty else { throw invalid(path, "type must be a string or a non-empty array of strings") }
                // An integer is a number: listing both keeps the number.
                return strings.contains("number") ? strings.filter { $0 != "integer" } : strings
            }
            throw invalid(path, "type must be a string or an array of strings")
        }
        let keys = Set(object.keys)
        if !keys.isDisjoint(with: ["properties", "additionalProperties", "required"]) { return ["object"] }
        if !keys.isDisjoint(with: ["items", "prefixItems", "minItems", "maxItems", "uniqueItems"]) { return ["array"] }
        if !keys.isDisjoint(with: ["minLength", "maxLength", "pattern", "format"]) { return ["string"] }
        if !keys.isDisjoint(with: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]) { return ["number"] }
        return ["object", "array", "string", "number", "boolean", "null"]
    }

    /// A constant value as JSON text, checked against the schema's type when it names one.
    func literal(_ value: JSONValue, allowedBy object: JSONObject, at path: String) throws(GrammarError) -> GrammarExpression {
        if let type = object["type"] {
            let names = type.stringValue.map { [$0] } ?? type.arrayValue?.compactMap(\.stringValue) ?? []
            let kind = value.typeName
            let fits = names.contains(kind) || (kind == "integer" && names.contains("number")) || (kind == "number" && names.contains("integer") && value.integerValue != nil)
            guard fits else { throw invalid(path, "the value \(value.jsonText) is not of the schema's type \(type.jsonText)") }
        }
        return .literal(value.jsonText)
    }

    /// The rule of the schema `reference` points to (`#`, `#/$defs/Name`, `#/definitions/Name`, any JSON pointer in
    /// this document), made once, so references may recurse.
    mutating func referenceRule(_ reference: String, at path: String) throws(GrammarError) -> Int {
        if let known = references[reference] { return known }
        guard reference.hasPrefix("#") else {
            throw unsupported("$ref", at: path, "only references inside the schema (starting with #) are resolved, not '\(reference)'")
        }
        let target = try resolve(reference, at: path)
        let name = reference == "#" ? "root-ref" : String(reference.split(separator: "/").last ?? "ref")
        let rule = newRule(name)
        references[reference] = rule
        define(rule, try compile(target, at: reference))
        return rule
    }

    /// The schema the in-document reference `reference` (`#` or `#/json/pointer`) points to.
    func resolve(_ reference: String, at path: String) throws(GrammarError) -> JSONValue {
        var target = root
        let pointer = reference.dropFirst()
        guard !pointer.isEmpty else { return target }
        guard reference.hasPrefix("#/") else { throw unsupported("$ref", at: path, "anchors ('\(reference)') are not resolved; use a JSON pointer such as #/$defs/Name") }
        for token in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = String(token).replacingAll("~1", with: "/").replacingAll("~0", with: "~")
            if let next = target[key] {
                target = next
            } else if let items = target.arrayValue, let i = Int(key), items.indices.contains(i) {
                target = items[i]
            } else {
                throw invalid(path, "$ref '\(reference)' points to nothing")
            }
        }
        return target
    }

    /// `allOf` of object schemas as one: properties and required lists joined, the strictest additionalProperties.
    func merged(allOf parts: JSONValue, into object: JSONObject, at path: String) throws(GrammarError) -> JSONValue {
        guard let list = parts.arrayValue, !list.isEmpty else { throw invalid(path, "allOf must be a non-empty array") }
        var result = object
        result["allOf"] = nil
        var seen: Set<String> = []
        func objectSchema(_ schema: JSONValue) throws(GrammarError) -> JSONObject {
            guard let object = schema.objectValue else { throw unsupported("allOf", at: path, "only object schemas (or $refs to them) are merged") }
            guard let reference = object["$ref"]?.stringValue else { return object }
            guard reference.hasPrefix("#") else {
                throw unsupported("$ref", at: path, "only references inside the schema (starting with #) are resolved, not '\(reference)'")
            }
            guard seen.insert(reference).inserted else { throw unsupported("allOf", at: path, "a recursive $ref inside allOf cannot be merged") }
            return try objectSchema(try resolve(reference, at: path))
        }
        for item in list {
            let schema = try objectSchema(item)
            for member in schema {
                switch member.key {
                case "properties":
                    var properties = result["properties"]?.objectValue ?? JSONObject()
                    for property in member.value.objectValue ?? JSONObject() { properties[property.key] = property.value }
                    result["properties"] = .object(properties)
                case "required":
                    var required = result["required"]?.arrayValue ?? []
                    for name in member.value.arrayValue ?? [] where !required.contains(name) { required.append(name) }
                    result["required"] = .array(required)
                case "additionalProperties":
                    if result["additionalProperties"] == nil || member.value == false { result["additionalProperties"] = member.value }
                case "type":
                    if let type = result["type"], type != member.value { throw unsupported("allOf", at: path, "its parts have different types") }
                    result["type"] = member.value
                case let key where Self.annotations.contains(key): continue
                default:
                    if let existing = result[member.key], existing != member.value {
                        throw unsupported("allOf", at: path, "its parts give '\(member.key)' different values")
                    }
                    result[member.key] = member.value
                }
            }
        }
        return .object(result)
    }

    func count(_ object: JSONObject, _ keyword: String, at path: String) throws(GrammarError) -> Int? {
        guard let value = object[keyword] else { return nil }
        guard let count = value.integerValue, count >= 0 else { throw invalid(path, "\(keyword) must be a non-negative integer") }
        return count
    }

    // MARK: Strings

    mutating func string(_ object: JSONObject, at path: String) throws(GrammarError) -> GrammarExpression {
        let minLength = try count(object, "minLength", at: path) ?? 0
        let maxLength = try count(object, "maxLength", at: path)
        if let maxLength, maxLength < minLength { throw invalid(path, "maxLength \(maxLength) is below minLength \(minLength)") }
        if let pattern = object["pattern"] {
            guard let text = pattern.stringValue else { throw invalid(path, "pattern must be a string") }
            guard object["format"] == nil else { throw unsupported("pattern", at: path, "pattern and format together cannot both be enforced; keep one") }
            guard minLength == 0, maxLength == nil else {
                throw unsupported("pattern", at: path, "pattern with minLength or maxLength cannot both be enforced; put the length in the pattern")
            }
            let body = try RegexParser.parse(text, anchored: false) { JSONSchemaCompiler.jsonEncoded($0) }
            let rule = newRule("\(path.split(separator: "/").last ?? "string")-pattern")
            define(rule, .sequence([.literal("\""), body, .literal("\"")]))
            return .rule(rule)
        }
        if let format = object["format"] {
            guard let name = format.stringValue else { throw invalid(path, "format must be a string") }
            guard minLength == 0, maxLength == nil else { throw unsupported("format", at: path, "format with minLength or maxLength cannot both be enforced") }
            return .sequence([.literal("\""), try self.format(name, at: path), .literal("\"")])
        }
        if minLength == 0, maxLength == nil { return anyString() }
        return .sequence([.literal("\""), .repetition(stringCharacter(), min: minLength, max: maxLength), .literal("\"")])
    }

    /// What a JSON string's text holds for one character of `set`: the character itself, or its escape where JSON
    /// requires one (quote, backslash, control characters).
    static func jsonEncoded(_ set: CharacterRanges) -> GrammarExpression {
        let mustEscape = CharacterRanges([0x22 ... 0x22, 0x5C ... 0x5C, 0x00 ... 0x1F])
        var alternatives: [GrammarExpression] = []
        let plain = set.subtracting(mustEscape)
        if !plain.isEmpty { alternatives.append(.characters(plain)) }
        for range in set.intersection(mustEscape).ranges {
            for value in range {
                switch value {
                case 0x22: alternatives.append(.literal("\\\""))
                case 0x5C: alternatives.append(.literal("\\\\"))
                case 0x0A: alternatives.append(.literal("\\n"))
                case 0x0D: alternatives.append(.literal("\\r"))
                case 0x09: alternatives.append(.literal("\\t"))
                default:
                    let hex = String(value, radix: 16)
                    alternatives.append(.literal("\\u" + String(repeating: "0", count: 4 - hex.count) + hex))
                }
            }
        }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    mutating func format(_ name: String, at path: String) throws(GrammarError) -> GrammarExpression {
        func digits(_ n: Int) -> GrammarExpression { .repetition(Self.digit, min: n, max: n) }
        func range(_ low: Unicode.Scalar, _ high: Unicode.Scalar) -> GrammarExpression { .characters(CharacterRanges([low.value ... high.value])) }
        let hex = GrammarExpression.characters(CharacterRanges([0x30 ... 0x39, 0x41 ... 0x46, 0x61 ... 0x66]))
        func hexes(_ n: Int) -> GrammarExpression { .repetition(hex, min: n, max: n) }
        let alphanumeric = CharacterRanges([0x30 ... 0x39, 0x41 ... 0x5A, 0x61 ... 0x7A])
        let label = GrammarExpression.sequence([.characters(alphanumeric), .optional(.sequence([
            .repetition(.characters(alphanumeric.union(CharacterRanges("-"))), min: 0, max: 61), .characters(alphanumeric)]))])
        let date = sharedRule("date") { _ in
            .sequence([digits(4), .literal("-"), .choice([.sequence([.literal("0"), range("1", "9")]), .sequence([.literal("1"), range("0", "2")])]),
                       .literal("-"), .choice([.sequence([.literal("0"), range("1", "9")]), .sequence([range("1", "2"), Self.digit]),
                                               .sequence([.literal("3"), range("0", "1")])])])
        }
        let time = sharedRule("time") { _ in
            let hour = GrammarExpression.choice([.sequence([range("0", "1"), Self.digit]), .sequence([.literal("2"), range("0", "3")])])
            let minute = GrammarExpression.sequence([range("0", "5"), Self.digit])
            return .sequence([hour, .literal(":"), minute, .literal(":"), minute, .optional(.sequence([.literal("."), .repetition(Self.digit, min: 1, max: 6)])),
                              .choice([.literal("Z"), .sequence([.characters(CharacterRanges([0x2B ... 0x2B, 0x2D ... 0x2D])), hour, .literal(":"), minute])])])
        }
        switch name {
        case "date": return date
        case "time": return time
        case "date-time": return .sequence([date, .literal("T"), time])
        case "uuid": return .sequence([hexes(8), .literal("-"), hexes(4), .literal("-"), hexes(4), .literal("-"), hexes(4), .literal("-"), hexes(12)])
        case "email":
            let local = GrammarExpression.repetition(.characters(alphanumeric.union(CharacterRanges(Array("!#$%&'*+/=?^_`{|}~-".unicodeScalars).map { $0.value ... $0.value }))),
                                                     min: 1, max: 64)
            return .sequence([local, .repetition(.sequence([.literal("."), local]), min: 0, max: 4), .literal("@"), label,
                              .repetition(.sequence([.literal("."), label]), min: 1, max: 4)])
        case "hostname":
            return .sequence([label, .repetition(.sequence([.literal("."), label]), min: 0, max: 8)])
        case "ipv4":
            let octet = GrammarExpression.choice([.sequence([.literal("25"), range("0", "5")]), .sequence([.literal("2"), range("0", "4"), Self.digit]),
                                                  .sequence([.literal("1"), Self.digit, Self.digit]), .sequence([range("1", "9"), Self.digit]), Self.digit])
            return .sequence([octet, .literal("."), octet, .literal("."), octet, .literal("."), octet])
        default:
            throw unsupported("format", at: path, "the format '\(name)' is not enforced (date, time, date-time, uuid, email, hostname and ipv4 are); "
                + "remove format or use pattern")
        }
    }

    // MARK: Numbers

    func bound(_ object: JSONObject, _ keyword: String, at path: String) throws(GrammarError) -> Double? {
        guard let value = object[keyword] else { return nil }
        guard let number = value.numberValue else { throw invalid(path, "\(keyword) must be a number") }
        return number
    }

    /// The integer bounds of a schema, inclusive.
    func integerBounds(_ object: JSONObject, at path: String) throws(GrammarError) -> (low: Int?, high: Int?) {
        var low: Int?
        var high: Int?
        let limit = 1e15
        func clamp(_ value: Double, _ keyword: String) throws(GrammarError) -> Double {
            guard abs(value) <= limit else { throw unsupported(keyword, at: path, "bounds beyond ±10^15 are not enforced") }
            return value
        }
        if let value = try bound(object, "minimum", at: path) { low = Int(try clamp(value, "minimum").rounded(.up)) }
        if let value = try bound(object, "exclusiveMinimum", at: path) {
            let strict = Int(try clamp(value, "exclusiveMinimum").rounded(.down)) + 1
            low = max(low ?? strict, strict)
        }
        if let value = try bound(object, "maximum", at: path) { high = Int(try clamp(value, "maximum").rounded(.down)) }
        if let value = try bound(object, "exclusiveMaximum", at: path) {
            let strict = Int(try clamp(value, "exclusiveMaximum").rounded(.up)) - 1
            high = min(high ?? strict, strict)
        }
        if let low, let high, low > high { throw invalid(path, "no integer lies between its minimum and maximum") }
        return (low, high)
    }

    mutating func integer(_ object: JSONObject, at path: String) throws(GrammarError) -> GrammarExpression {
        let (low, high) = try integerBounds(object, at: path)
        if low == nil, high == nil { return anyInteger() }
        return IntegerRanges.expression(low: low, high: high)
    }

    mutating func number(_ object: JSONObject, at path: String) throws(GrammarError) -> GrammarExpression {
        let keywords = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].filter { object[$0] != nil }
        if keywords.isEmpty { return anyNumber() }
        for keyword in keywords {
            guard let value = object[keyword]?.numberValue else { throw invalid(path, "\(keyword) must be a number") }
            guard value == value.rounded() else {
                throw unsupported(keyword, at: path, "a fractional bound on a number (\(value)) is not enforced; use whole-number bounds or type integer")
            }
        }
        // The binding bound on each side: the greater low, the smaller high; exclusive wins a tie.
        func binding(_ inclusive: String, _ exclusive: String, low: Bool) -> IntegerRanges.Bound? {
            let a = object[inclusive]?.numberValue.map { IntegerRanges.Bound(value: Int($0), strict: false) }
            let b = object[exclusive]?.numberValue.map { IntegerRanges.Bound(value: Int($0), strict: true) }
            guard let a, let b else { return a ?? b }
            if a.value == b.value { return b }
            return (a.value > b.value) == low ? a : b
        }
        for keyword in keywords where abs(object[keyword]!.numberValue!) > 1e15 {
            throw unsupported(keyword, at: path, "bounds beyond ±10^15 are not enforced")
        }
        let low = binding("minimum", "exclusiveMinimum", low: true)
        let high = binding("maximum", "exclusiveMaximum", low: false)
        if let low, let high, low.value > high.value || (low.value == high.value && (low.strict || high.strict)) {
            throw invalid(path, "no number lies between its minimum and maximum")
        }
        return IntegerRanges.decimal(low: low, high: high)
    }

    // MARK: Arrays

    mutating func array(_ object: JSONObject, at path: String) throws(GrammarError) -> GrammarExpression {
        if let unique = object["uniqueItems"], unique != false {
            throw unsupported("uniqueItems", at: path, "a grammar cannot keep items apart; remove uniqueItems and check the answer")
        }
        let minItems = try count(object, "minItems", at: path) ?? 0
        var maxItems = try count(object, "maxItems", at: path)
        var prefix: [GrammarExpression] = []
        if let items = object["prefixItems"] {
            guard let list = items.arrayValue else { throw invalid(path, "prefixItems must be an array") }
            for (i, item) in list.enumerated() { prefix.append(try compile(item, at: "\(path)/prefixItems/\(i)")) }
        }
        var rest: GrammarExpression?
        if let items = object["items"] {
            if items != false { rest = try compile(items, at: "\(path)/items") }
        } else if prefix.isEmpty {
            rest = anyValue()
        }
        if rest == nil { maxItems = min(maxItems ?? prefix.count, prefix.count) }
        if let maxItems, maxItems < minItems { throw invalid(path, "maxItems \(maxItems) is below what minItems and prefixItems allow") }
        let rule = newRule(path == "#" ? "array" : "\(path.split(separator: "/").last ?? "array")-array")
        let ws = ws()
        let separator = GrammarExpression.sequence([ws, .literal(","), ws])
        // Items from position `i` on, `i` of them written already.
        func items(from i: Int) -> GrammarExpression {
            if i >= prefix.count {
                guard let rest else { return .empty }
                let needed = max(0, minItems - i)
                let allowed = maxItems.map { $0 - i }
                if i == 0 {
                    let more = GrammarExpression.repetition(.sequence([separator, rest]), min: max(0, needed - 1), max: allowed.map { max(0, $0 - 1) })
                    let list = GrammarExpression.sequence([rest, more])
                    if allowed == 0 { return .empty }
                    return needed > 0 ? list : .optional(list)
                }
                return .repetition(.sequence([separator, rest]), min: needed, max: allowed)
            }
            if let maxItems, i >= maxItems { return .empty }
            let item = GrammarExpression.sequence([i == 0 ? .empty : separator, prefix[i], items(from: i + 1)])
            return i >= minItems ? .optional(item) : item
        }
        define(rule, .sequence([.literal("["), ws, items(from: 0), ws, .literal("]")]))
        return .rule(rule)
    }

    // MARK: Objects

    mutating func object(_ object: JSONObject, at path: String) throws(GrammarError) -> GrammarExpression {
        let properties = object["properties"]?.objectValue ?? JSONObject()
        if let value = object["properties"], value.objectValue == nil { throw invalid(path, "properties must be an object") }
        var required: Set<String> = []
        if let value = object["required"] {
            guard let names = value.arrayValue?.compactMap(\.stringValue), names.count == value.arrayValue?.count else {
                throw invalid(path, "required must be an array of strings")
            }
            required = Set(names)
        }
        // A required property the schema does not describe takes any value.
        var members: [(key: String, value: GrammarExpression, required: Bool)] = []
        let ws = ws()
        for property in properties {
            let value = try compile(property.value, at: "\(path)/properties/\(property.key)")
            members.append((property.key, value, required.contains(property.key)))
        }
        for name in (object["required"]?.arrayValue ?? []).compactMap(\.stringValue) where properties[name] == nil {
            members.append((name, anyValue(), true))
        }
        let additional: GrammarExpression?
        switch object["additionalProperties"] {
        case nil, .bool(false)?:
            additional = nil
        case .bool(true)?:
            additional = anyValue()
        case let schema?:
            additional = try compile(schema, at: "\(path)/additionalProperties")
        }
        let name = path == "#" ? "object" : String(path.split(separator: "/").last ?? "object")
        let rule = newRule(name)
        let separator = GrammarExpression.sequence([ws, .literal(","), ws])
        var extra: GrammarExpression?
        if let additional {
            let key = otherKey(than: members.map(\.key))
            extra = .sequence([key, ws, .literal(":"), ws, additional])
        }
        // The members from `i` on; `first` when none is written yet (no separator before the next one).
        var memo: [Int: [Bool: GrammarExpression]] = [:]
        func tail(_ i: Int, first: Bool) -> GrammarExpression {
            if let known = memo[i]?[first] { return known }
            let result: GrammarExpression
            if i == members.count {
                if let extra {
                    let more = GrammarExpression.repetition(.sequence([separator, extra]), min: 0, max: nil)
                    result = first ? .optional(.sequence([extra, more])) : more
                } else {
                    result = .empty
                }
            } else {
                let member = members[i]
                let written = GrammarExpression.sequence([first ? .empty : separator, .literal(JSONValue.quoted(member.key)), ws, .literal(":"), ws,
                                                          member.value, tail(i + 1, first: false)])
                result = member.required ? written : .choice([written, tail(i + 1, first: first)])
            }
            memo[i, default: [:]][first] = result
            return result
        }
        define(rule, .sequence([.literal("{"), ws, tail(0, first: true), ws, .literal("}")]))
        return .rule(rule)
    }

    /// A JSON string that is none of `keys` (so an additional property never repeats a declared one).
    mutating func otherKey(than keys: [String]) -> GrammarExpression {
        guard !keys.isEmpty else { return anyString() }
        let character = stringCharacter()
        let anyRest = GrammarExpression.sequence([.repetition(character, min: 0, max: nil), .literal("\"")])
        // A trie of the keys' characters: after a prefix of some key, either continue along the trie, or leave it with
        // a character no key continues with (then anything), or close the string if the prefix is not a key.
        struct Node {
            var children: [Unicode.Scalar: Int] = [:]
            var isKey = false
        }
        var nodes = [Node()]
        for key in keys {
            var n = 0
            for scalar in key.unicodeScalars {
                if let next = nodes[n].children[scalar] {
                    n = next
                } else {
                    nodes.append(Node())
                    nodes[n].children[scalar] = nodes.count - 1
                    n = nodes.count - 1
                }
            }
            nodes[n].isKey = true
        }
        let plain = CharacterRanges([0x22 ... 0x22, 0x5C ... 0x5C, 0x00 ... 0x1F]).complement
        func expression(_ n: Int) -> GrammarExpression {
            var alternatives: [GrammarExpression] = []
            if !nodes[n].isKey { alternatives.append(.literal("\"")) }
            let continuing = CharacterRanges(nodes[n].children.keys.map { $0.value ... $0.value })
            for (scalar, child) in nodes[n].children.sorted(by: { $0.key.value < $1.key.value }) where plain.contains(scalar.value) {
                alternatives.append(.sequence([.literal(String(scalar)), expression(child)]))
            }
            let leaving = plain.subtracting(continuing)
            if !leaving.isEmpty { alternatives.append(.sequence([.characters(leaving), anyRest])) }
            // An escape leaves the trie too (keys are matched as written, unescaped).
            alternatives.append(.sequence([.literal("\\"), .choice([.characters(CharacterRanges(Array("\"\\/bfnrt".unicodeScalars).map { $0.value ... $0.value })),
                                                                    .sequence([.literal("u"), .repetition(.characters(CharacterRanges([0x30 ... 0x39, 0x41 ... 0x46, 0x61 ... 0x66])), min: 4, max: 4)])]),
                                           anyRest]))
            return .choice(alternatives)
        }
        let rule = newRule("other-key")
        define(rule, .sequence([.literal("\""), expression(0)]))
        return .rule(rule)
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// A JSON value (RFC 8259) whose objects keep their members in document order.
///
/// Order matters where a JSON document describes something ordered: a schema's properties are the order
/// in which an answer lists them, and a tool's parameters are printed into the prompt in the order the
/// client wrote them. Integers that fit in `Int` are `.int`, other numbers `.double`.
///
/// Numbers compare by value, so `1` equals `1.0`, as JSON Schema's `enum` and `const` compare them.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The member `key` of an object; nil for a missing member or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { object[key] } else { nil }
    }

    /// The string, or nil for any other kind of value.
    public var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    /// The boolean, or nil for any other kind of value.
    public var boolValue: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    /// The number as a `Double` (integers included), or nil for any other kind of value.
    public var numberValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// The number when it is a whole number that fits in `Int` (`3` and `3.0`), or nil.
    public var integerValue: Int? {
        switch self {
        case .int(let value): value
        case .double(let value) where value == value.rounded() && abs(value) < 0x1p62: Int(value)
        default: nil
        }
    }

    /// The elements, or nil for any other kind of value.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { value } else { nil }
    }

    /// The object, or nil for any other kind of value.
    public var objectValue: JSONObject? {
        if case .object(let value) = self { value } else { nil }
    }

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        if let x = a.numberValue, let y = b.numberValue {
            if case .int(let i) = a, case .int(let j) = b { return i == j }
            return x == y
        }
        switch a {
        case .null: if case .null = b { return true }
        case .bool(let x): if case .bool(let y) = b { return x == y }
        case .string(let x): if case .string(let y) = b { return x == y }
        case .array(let x): if case .array(let y) = b { return x == y }
        case .object(let x): if case .object(let y) = b { return x == y }
        case .int, .double: break
        }
        return false
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .int, .double: hasher.combine(numberValue)
        case .string(let value): hasher.combine(value)
        case .array(let value): hasher.combine(value)
        case .object(let value): hasher.combine(value)
        }
    }

    /// The JSON type's name as JSON Schema spells it (`integer` for `.int`), for messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON object: its members in document order, each key once (a repeated key keeps its first position and
/// its last value, as Python's `json.loads` does).
public struct JSONObject: Sendable, Hashable, RandomAccessCollection {
    /// One member.
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue

        /// A member.
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    private var members: [Member] = []
    private var positions: [String: Int] = [:]

    /// An empty object.
    public init() {}

    /// An object of `members` in this order; a repeated key keeps its first position and its last value.
    public init(_ members: [(String, JSONValue)]) {
        for (key, value) in members { self[key] = value }
    }

    public var startIndex: Int { members.startIndex }
    public var endIndex: Int { members.endIndex }
    public subscript(position: Int) -> Member { members[position] }

    /// The keys in order.
    public var keys: [String] { members.map(\.key) }

    /// The value of `key`; setting a new key appends it, setting nil removes it.
    public subscript(key: String) -> JSONValue? {
        get { positions[key].map { members[$0].value } }
        set {
            if let position = positions[key] {
                if let newValue {
                    members[position].value = newValue
                } else {
                    members.remove(at: position)
                    positions = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.key, $0) })
                }
            } else if let newValue {
                positions[key] = members.count
                members.append(Member(key: key, value: newValue))
            }
        }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool { a.members == b.members }
    public func hash(into hasher: inout Hasher) { hasher.combine(members) }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}

/// A value while a template runs: the data of `TemplateValue` plus what only exists inside a
/// render (undefined values, namespaces, macros, functions, the `loop` object).
///
/// Namespaces, macros and call-block callers are handles into the interpreter's tables, so
/// that `{% set ns.x = 1 %}` changes the one namespace every name for it sees (as in Jinja),
/// while `Value` itself stays a plain value type.
enum Value: Sendable {
    case undefined(Undefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Value])
    case dict(Dict)
    case namespace(Int)
    case macro(Int)
    case caller(Int)
    case builtin(Builtin)
    indirect case method(receiver: Value, name: String)
    indirect case loop(LoopState)
}

/// Why a value is undefined, in the words of Jinja's `UndefinedError`.
struct Undefined: Sendable {
    var reason: String

    static func variable(_ name: String) -> Undefined {
        Undefined(reason: "'\(name)' is undefined")
    }

    static func attribute(_ name: String, of object: Value) -> Undefined {
        Undefined(reason: "'\(object.objectDescription)' has no attribute '\(name)'")
    }

    static func element(_ key: Value, of object: Value) -> Undefined {
        Undefined(reason: "\(object.objectDescription) has no element \(key.reprForMessage)")
    }
}

/// A dictionary key: Python dicts in templates use strings, sometimes integers
/// (`{0: 0, 512: 128}`); `True`/`1`/`1.0` are the same key, as in Python.
enum DictKey: Hashable, Sendable {
    case string(String)
    case int(Int)

    /// The key for `value`, or nil if this renderer cannot use it as a key.
    init?(_ value: Value) {
        switch value {
        case .string(let text): self = .string(text)
        case .double(let number):
            guard let integer = Int(exactly: number) else { return nil }
            self = .int(integer)
        default:
            guard let integer = value.integerValue else { return nil }
            self = .int(integer)
        }
    }

    var value: Value {
        switch self {
        case .string(let text): return .string(text)
        case .int(let number): return .int(number)
        }
    }

    /// The key as JSON writes it (`json.dumps` turns integer keys into strings).
    var text: String {
        switch self {
        case .string(let text): return text
        case .int(let number): return String(number)
        }
    }
}

/// A dictionary that remembers insertion order, as Python dicts do.
struct Dict: Sendable {
    private(set) var keys: [DictKey] = []
    private var storage: [DictKey: Value] = [:]

    init() {}

    init(_ pairs: [(String, Value)]) {
        for (key, value) in pairs { self[key] = value }
    }

    var count: Int { keys.count }

    subscript(key: DictKey) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    subscript(key: String) -> Value? {
        get { self[.string(key)] }
        set { self[.string(key)] = newValue }
    }

    /// The entries in insertion order.
    var entries: [(key: DictKey, value: Value)] {
        keys.compactMap { key in storage[key].map { (key: key, value: $0) } }
    }

    var values: [Value] { keys.compactMap { storage[$0] } }
}

/// The state of the innermost `for` loop, as `loop.*` exposes it.
struct LoopState: Sendable {
    var index0: Int
    var length: Int
    var previous: Value?
    var next: Value?
}

/// Functions a template can call by name (Hugging Face's globals plus Jinja's own).
enum Builtin: String, Sendable {
    case raiseException = "raise_exception"
    case strftimeNow = "strftime_now"
    case range
    case namespace
    case dict
}

extension Value {
    init(_ value: TemplateValue) {
        switch value {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let items): self = .list(items.map(Value.init))
        case .object(let pairs): self = .dict(Dict(pairs.map { ($0.key, Value($0.value)) }))
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python's truth value.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let items): return !items.isEmpty
        case .dict(let dict): return dict.count > 0
        case .namespace, .macro, .caller, .builtin, .method, .loop: return true
        }
    }

    /// The Python type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .macro, .caller: return "Macro"
        case .builtin: return "builtin_function_or_method"
        case .method: return "method"
        case .loop: return "LoopContext"
        }
    }

    /// How Jinja names an object in "has no attribute" messages, e.g. `dict object`.
    var objectDescription: String {
        if case .none = self { return "None" }
        return "\(typeName) object"
    }

    /// The integer value of an `int` or `bool` (Python's bool is an int).
    var integerValue: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// The numeric value of an `int`, `bool` or `float`.
    var numericValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .bool(let b): return b ? 1 : 0
        case .double(let d): return d
        default: return nil
        }
    }

    /// Whether the value nests lists and dictionaries deeper than `limit`; stops looking at the limit.
    func nestingExceeds(_ limit: Int) -> Bool {
        if limit < 0 { return true }
        switch self {
        case .list(let items): return items.contains { $0.nestingExceeds(limit - 1) }
        case .dict(let dict): return dict.values.contains { $0.nestingExceeds(limit - 1) }
        default: return false
        }
    }
}

extension TemplateValue {
    /// Whether the value nests arrays and objects deeper than `limit`; stops looking at the limit.
    func nestingExceeds(_ limit: Int) -> Bool {
        if limit < 0 { return true }
        switch self {
        case .array(let items): return items.contains { $0.nestingExceeds(limit - 1) }
        case .object(let pairs): return pairs.contains { $0.value.nestingExceeds(limit - 1) }
        default: return false
        }
    }
}

/// One metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The value as an integer, if it is one of the integer types and fits in `Int`.
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(exactly: v)
        default: nil
        }
    }

    /// The value as a floating-point number, if it is numeric.
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }

    /// The value as a string, if it is one.
    public var string: String? {
        if case .string(let v) = self { v } else { nil }
    }

    /// The value as a boolean, if it is one.
    public var bool: Bool? {
        if case .bool(let v) = self { v } else { nil }
    }

    /// The elements, if the value is an array.
    public var array: [GGUFValue]? {
        if case .array(let v) = self { v } else { nil }
    }

    /// The value as an error message shows it: a number or boolean as written, a string quoted (its first
    /// 64 characters), an array by its length.
    public var description: String {
        switch self {
        case .float32(let v): String(v)
        case .float64(let v): String(v)
        case .bool(let v): String(v)
        case .string(let v): v.count > 64 ? "\"\(v.prefix(64))...\"" : "\"\(v)\""
        case .array(let v): "an array of \(v.count) values"
        default: int.map(String.init) ?? uint64Description
        }
    }

    /// A `uint64` too large for `Int`, which `int` does not give.
    private var uint64Description: String {
        if case .uint64(let v) = self { String(v) } else { "?" }
    }
}

/// The metadata key-value pairs of a GGUF file, in file order.
public struct GGUFMetadata: Sendable {
    /// Keys in the order the file lists them.
    public let keys: [String]
    private let values: [String: GGUFValue]

    init(keys: [String], values: [String: GGUFValue]) {
        self.keys = keys
        self.values = values
    }

    /// The value stored under `key`, if any.
    public subscript(key: String) -> GGUFValue? { values[key] }

    /// An integer value, or nil when absent or not an integer.
    public func int(_ key: String) -> Int? { values[key]?.int }

    /// A numeric value as `Double`, or nil when absent or not numeric.
    public func double(_ key: String) -> Double? { values[key]?.double }

    /// A string value, or nil when absent or not a string.
    public func string(_ key: String) -> String? { values[key]?.string }

    /// A boolean value, or nil when absent or not a boolean.
    public func bool(_ key: String) -> Bool? { values[key]?.bool }

    /// An array of strings, or nil when absent or not an array of strings.
    public func strings(_ key: String) -> [String]? {
        guard let array = values[key]?.array else { return nil }
        var result: [String] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let s = element.string else { return nil }
            result.append(s)
        }
        return result
    }

    /// An array of integers, or nil when absent or not an array of integers.
    public func ints(_ key: String) -> [Int]? {
        guard let array = values[key]?.array else { return nil }
        var result: [Int] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let v = element.int else { return nil }
            result.append(v)
        }
        return result
    }

    /// An array of floats, or nil when absent or not numeric.
    public func floats(_ key: String) -> [Float]? {
        guard let array = values[key]?.array else { return nil }
        var result: [Float] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let v = element.double else { return nil }
            result.append(Float(v))
        }
        return result
    }
}

extension GGUFMetadata {
    /// The integer stored under `key`, or nil when the file lacks the key.
    /// - Throws: `GGUFError` (`.invalidValue`) naming the key and the value when it is not an integer in `range`.
    public func int(_ key: String, in range: ClosedRange<Int>) throws(GGUFError) -> Int? {
        guard let value = self[key] else { return nil }
        guard let v = value.int, range.contains(v) else {
            throw .invalidValue(key: key, value: value, requirement: "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return v
    }

    /// The number stored under `key` (of any numeric type), or nil when the file lacks the key.
    /// - Throws: `GGUFError` (`.invalidValue`) naming the key and the value when it is not a finite number
    ///   above zero.
    public func positiveNumber(_ key: String) throws(GGUFError) -> Double? {
        guard let value = self[key] else { return nil }
        guard let v = value.double, v.isFinite, v > 0 else {
            throw .invalidValue(key: key, value: value, requirement: "a finite number above 0")
        }
        return v
    }

    /// The boolean stored under `key`, or nil when the file lacks the key.
    /// - Throws: `GGUFError` (`.invalidValue`) naming the key and the value when it is not a boolean.
    public func checkedBool(_ key: String) throws(GGUFError) -> Bool? {
        guard let value = self[key] else { return nil }
        guard let v = value.bool else { throw .invalidValue(key: key, value: value, requirement: "a boolean") }
        return v
    }

    /// The string stored under `key`, or nil when the file lacks the key.
    /// - Throws: `GGUFError` (`.invalidValue`) naming the key and the value when it is not a string.
    public func checkedString(_ key: String) throws(GGUFError) -> String? {
        guard let value = self[key] else { return nil }
        guard let v = value.string else { throw .invalidValue(key: key, value: value, requirement: "a string") }
        return v
    }
}

/// One metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
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

/// A value handed to a chat template as a variable: the JSON-like data Hugging Face templates
/// read (`tools`, `documents`, `date_string`, flags such as `enable_thinking`, ...).
///
/// Objects keep their keys in the order given, because templates print them in order
/// (`tojson`, `items()`); equality of objects ignores key order, as in Python.
/// This type only carries data: it cannot hold functions, macros or Jinja namespaces.
public enum TemplateValue: Sendable, Equatable {
    /// Python `None`.
    case none
    /// A boolean.
    case bool(Bool)
    /// An integer.
    case int(Int)
    /// A floating-point number.
    case double(Double)
    /// A string.
    case string(String)
    /// A list.
    case array([TemplateValue])
    /// A dictionary with string keys, in insertion order. If a key repeats, the last value wins
    /// and the key keeps its first position (as with Python dict literals).
    case object([(key: String, value: TemplateValue)])

    /// Equality as in Python: numbers compare by value (`1 == 1.0`), objects compare by their
    /// key/value pairs whatever their order.
    public static func == (lhs: TemplateValue, rhs: TemplateValue) -> Bool {
        SkiffChatTemplate.Value(lhs).pythonEquals(SkiffChatTemplate.Value(rhs))
    }
}

extension TemplateValue: ExpressibleByStringLiteral {
    /// A `.string` value.
    public init(stringLiteral value: String) { self = .string(value) }
}

extension TemplateValue: ExpressibleByIntegerLiteral {
    /// An `.int` value.
    public init(integerLiteral value: Int) { self = .int(value) }
}

extension TemplateValue: ExpressibleByFloatLiteral {
    /// A `.double` value.
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension TemplateValue: ExpressibleByBooleanLiteral {
    /// A `.bool` value.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension TemplateValue: ExpressibleByArrayLiteral {
    /// An `.array` value.
    public init(arrayLiteral elements: TemplateValue...) { self = .array(elements) }
}

extension TemplateValue: ExpressibleByDictionaryLiteral {
    /// An `.object` value with the keys in the order written.
    public init(dictionaryLiteral elements: (String, TemplateValue)...) {
        self = .object(elements.map { (key: $0.0, value: $0.1) })
    }
}

import Foundation
import SkiffGrammar
import SkiffJSON

// The request fields that constrain an answer's text, under the names each family of clients sends: OpenAI's
// `response_format`, vLLM's `guided_json`, `guided_regex`, `guided_choice`, `guided_grammar` and
// `structured_outputs`, llama.cpp's `grammar` and `json_schema`. A request names at most one constraint.

/// A completion body read again in document order, for the fields whose order matters (schemas, tools): the decoder
/// that checks the body's fields does not keep it.
/// - Throws: `APIError` 400 when the text is not a JSON object (the decoder has accepted it, so only a number out of
///   range or nesting past 128 levels gets here).
func orderedBody(_ body: Data) throws(APIError) -> JSONObject {
    do {
        guard let object = try JSONValue(parsing: [UInt8](body)).objectValue else { throw APIError.invalidRequest("The request body must be a JSON object.") }
        return object
    } catch let error as JSONError {
        throw .invalidRequest("The request body cannot be read as JSON: \(error.description).")
    } catch {
        throw .invalidRequest("The request body must be a JSON object.")
    }
}

/// The constraint fields of a completion body.
enum ConstraintField: String, CaseIterable, Sendable {
    case responseFormat = "response_format"
    case guidedJSON = "guided_json"
    case guidedRegex = "guided_regex"
    case guidedChoice = "guided_choice"
    case guidedGrammar = "guided_grammar"
    case structuredOutputs = "structured_outputs"
    case grammar
    case jsonSchema = "json_schema"

    /// The constraint the fields of a completion body ask for, or nil, with the field's name for errors. `object` is the
    /// body read in document order (`orderedBody`), so that a schema's properties keep their order.
    /// - Throws: `APIError` 400 naming the field: a value of the wrong shape, or two constraints at once.
    static func constraint(in object: JSONObject) throws(APIError) -> (field: String, constraint: OutputConstraint)? {
        var found: [(ConstraintField, OutputConstraint)] = []
        for field in allCases {
            guard let value = object[field.rawValue], value != .null, let constraint = try field.read(value) else { continue }
            found.append((field, constraint))
        }
        guard found.count <= 1 else {
            throw .invalidRequest("The request names \(found.map { "'\($0.0.rawValue)'" }.joined(separator: " and ")); send one output constraint.",
                                  param: found[1].0.rawValue)
        }
        return found.first.map { ($0.0.rawValue, $0.1) }
    }

    /// The constraint `value` asks for (nil: none, as `{"type": "text"}`).
    func read(_ value: JSONValue) throws(APIError) -> OutputConstraint? {
        let name = rawValue
        func schema(_ value: JSONValue, _ path: String, asText: Bool = false) throws(APIError) -> OutputConstraint {
            switch value {
            case .object, .bool: return .jsonSchema(value)
            case .string(let text) where asText:
                // vLLM accepts a schema as JSON text too.
                guard let parsed = try? JSONValue(parsing: text), parsed.objectValue != nil || parsed.boolValue != nil else {
                    throw .invalidRequest("'\(path)' must be a JSON schema: an object, or JSON text of one.", param: path)
                }
                return .jsonSchema(parsed)
            default: throw .invalidRequest("'\(path)' must be a JSON schema (an object).", param: path)
            }
        }
        func text(_ value: JSONValue, _ path: String) throws(APIError) -> String {
            guard let text = value.stringValue else { throw .invalidRequest("'\(path)' must be a string.", param: path) }
            return text
        }
        func choices(_ value: JSONValue, _ path: String) throws(APIError) -> OutputConstraint {
            guard let items = value.arrayValue, !items.isEmpty, items.allSatisfy({ $0.stringValue != nil }) else {
                throw .invalidRequest("'\(path)' must be a non-empty list of strings.", param: path)
            }
            return .choice(items.compactMap(\.stringValue))
        }
        switch self {
        case .responseFormat:
            guard let format = value.objectValue, let type = format["type"]?.stringValue else {
                throw .invalidRequest("'response_format' must be an object with a 'type': \"text\", \"json_object\" or \"json_schema\".",
                                      param: name)
            }
            func only(_ object: JSONObject, _ keys: Set<String>, in path: String) throws(APIError) {
                if let extra = object.keys.first(where: { !keys.contains($0) }) {
                    throw .invalidRequest("Unrecognized request argument supplied: '\(path).\(extra)'; remove it.", param: "\(path).\(extra)")
                }
            }
            switch type {
            case "text":
                try only(format, ["type"], in: name)
                return nil
            case "json_object":
                try only(format, ["type", "schema"], in: name)
                // llama.cpp's server takes a schema beside json_object.
                if let inline = format["schema"], inline != .null { return try schema(inline, "response_format.schema") }
                return .jsonObject
            case "json_schema":
                guard let spec = format["json_schema"]?.objectValue else {
                    throw .invalidRequest("'response_format.json_schema' is required with type \"json_schema\": an object with 'name' and 'schema'.",
                                          param: "response_format.json_schema")
                }
                try only(format, ["type", "json_schema"], in: name)
                try only(spec, ["name", "description", "schema", "strict"], in: "response_format.json_schema")
                if let strict = spec["strict"], strict != .null, strict.boolValue == nil {
                    throw .invalidRequest("'response_format.json_schema.strict' must be a boolean.", param: "response_format.json_schema.strict")
                }
                for key in ["name", "description"] where spec[key] != nil && spec[key]?.stringValue == nil {
                    throw .invalidRequest("'response_format.json_schema.\(key)' must be a string.", param: "response_format.json_schema.\(key)")
                }
                guard let inline = spec["schema"], inline != .null else { return .jsonObject }
                return try schema(inline, "response_format.json_schema.schema")
            default:
                throw .invalidRequest("'response_format.type' must be \"text\", \"json_object\" or \"json_schema\", not '\(type)'.",
                                      param: "response_format.type")
            }
        case .guidedJSON: return try schema(value, name, asText: true)
        case .jsonSchema: return try schema(value, name)
        case .guidedRegex: return .regex(try text(value, name))
        case .guidedChoice: return try choices(value, name)
        case .guidedGrammar, .grammar: return .gbnf(try text(value, name))
        case .structuredOutputs:
            guard let spec = value.objectValue else {
                throw .invalidRequest("'structured_outputs' must be an object naming one of json, regex, choice or grammar.", param: name)
            }
            let given = spec.filter { $0.value != .null }
            guard given.count == 1, let member = given.first else {
                throw .invalidRequest("'structured_outputs' must name exactly one of json, regex, choice or grammar.", param: name)
            }
            let path = "structured_outputs.\(member.key)"
            switch member.key {
            case "json": return try schema(member.value, path, asText: true)
            case "regex": return .regex(try text(member.value, path))
            case "choice": return try choices(member.value, path)
            case "grammar": return .gbnf(try text(member.value, path))
            case "json_object":
                guard let flag = member.value.boolValue else { throw .invalidRequest("'\(path)' must be a boolean.", param: path) }
                return flag ? .jsonObject : nil
            default: throw .invalidRequest("'structured_outputs.\(member.key)' is not a constraint this server knows; use json, regex, choice or grammar.",
                                           param: path)
            }
        }
    }
}

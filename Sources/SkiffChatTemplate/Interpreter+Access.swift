/// `object.name`, `object[key]`, slices and iteration, as Jinja's sandboxed `getattr`/`getitem`
/// do them: a missing key or attribute is an undefined value (not an error), but any use of an
/// undefined value other than printing, testing or iterating it is.
extension Interpreter {
    @inline(never)
    func attribute(_ name: String, of object: Value) throws(ChatTemplateError) -> Value {
        switch object {
        case .undefined(let undefined):
            throw ChatTemplateError(.undefinedValue, undefined.reason)
        case .dict(let dict):
            if let method = try Methods.bound(name, on: object) { return method }
            return dict[name] ?? .undefined(.attribute(name, of: object))
        case .string, .list:
            return try Methods.bound(name, on: object) ?? .undefined(.attribute(name, of: object))
        case .namespace(let id):
            return namespaces[id][name] ?? .undefined(.attribute(name, of: object))
        case .loop(let state):
            return loopAttribute(name, of: state)
        default:
            return .undefined(.attribute(name, of: object))
        }
    }

    @inline(never)
    func item(_ key: Value, of object: Value) throws(ChatTemplateError) -> Value {
        switch object {
        case .undefined(let undefined):
            throw ChatTemplateError(.undefinedValue, undefined.reason)
        case .list(let items):
            if let index = key.integerValue {
                let position = index < 0 ? index + items.count : index
                return items.indices.contains(position) ? items[position] : .undefined(.element(key, of: object))
            }
        case .string(let text):
            if let index = key.integerValue {
                let characters = text.scalars
                let position = index < 0 ? index + characters.count : index
                return characters.indices.contains(position)
                    ? .string(String(characters[position])) : .undefined(.element(key, of: object))
            }
        case .dict(let dict):
            if let dictKey = DictKey(key), let value = dict[dictKey] { return value }
        default:
            break
        }
        if case .string(let name) = key { return try attribute(name, of: object) }
        return .undefined(.element(key, of: object))
    }

    private func loopAttribute(_ name: String, of state: LoopState) -> Value {
        switch name {
        case "index": return .int(state.index0 + 1)
        case "index0": return .int(state.index0)
        case "revindex": return .int(state.length - state.index0)
        case "revindex0": return .int(state.length - state.index0 - 1)
        case "first": return .bool(state.index0 == 0)
        case "last": return .bool(state.index0 == state.length - 1)
        case "length": return .int(state.length)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem": return state.previous ?? .undefined(Undefined(reason: "there is no previous item"))
        case "nextitem": return state.next ?? .undefined(Undefined(reason: "there is no next item"))
        case "cycle", "changed": return .method(receiver: .loop(state), name: name)
        default: return .undefined(.attribute(name, of: .loop(state)))
        }
    }

    /// `object[start:stop:step]` on a list or string, with Python's clamping of indexes.
    @inline(never)
    func slice(_ object: Value, start: Value?, stop: Value?, step: Value?) throws(ChatTemplateError) -> Value {
        func index(_ value: Value?) throws(ChatTemplateError) -> Int? {
            guard let value else { return nil }
            if case .none = value { return nil }
            guard let index = value.integerValue else {
                throw ChatTemplateError(.typeMismatch, "slice indices must be integers or none, not '\(value.typeName)'")
            }
            return index
        }
        let stepValue = try index(step) ?? 1
        guard stepValue != 0 else { throw ChatTemplateError(.invalidArgument, "slice step cannot be zero") }
        switch object {
        case .list(let items):
            return .list(Interpreter.sliceIndices(items.count, try index(start), try index(stop), stepValue).map { items[$0] })
        case .string(let text):
            let characters = text.scalars
            let indices = Interpreter.sliceIndices(characters.count, try index(start), try index(stop), stepValue)
            return .string(String(scalars: indices.map { characters[$0] }))
        case .undefined(let undefined):
            throw ChatTemplateError(.undefinedValue, undefined.reason)
        default:
            return .undefined(Undefined(reason: "\(object.objectDescription) cannot be sliced"))
        }
    }

    private static func sliceIndices(_ count: Int, _ start: Int?, _ stop: Int?, _ step: Int) -> [Int] {
        func clamp(_ value: Int?, default fallback: Int) -> Int {
            guard var value else { return fallback }
            if value < 0 {
                value += count
                if value < 0 { value = step < 0 ? -1 : 0 }
            } else if value >= count {
                value = step < 0 ? count - 1 : count
            }
            return value
        }
        let first = clamp(start, default: step < 0 ? count - 1 : 0)
        let end = clamp(stop, default: step < 0 ? -1 : count)
        return strideValues(from: first, to: end, by: step)
    }

    /// `stride(from:to:by:)` that stops instead of trapping when the next value would overflow.
    static func strideValues(from start: Int, to end: Int, by step: Int) -> [Int] {
        var values: [Int] = []
        var current = start
        while step > 0 ? current < end : current > end {
            values.append(current)
            let (next, overflow) = current.addingReportingOverflow(step)
            if overflow { break }
            current = next
        }
        return values
    }

    /// What `for x in value` visits: list items, dictionary keys, string characters; nothing for
    /// an undefined value.
    func iterate(_ value: Value) throws(ChatTemplateError) -> [Value] {
        switch value {
        case .list(let items): return items
        case .dict(let dict): return dict.keys.map(\.value)
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default:
            throw ChatTemplateError(.typeMismatch, "'\(value.typeName)' object is not iterable")
        }
    }
}

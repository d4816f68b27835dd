/// Calling things: macros, call-block callers, methods and the global functions
/// (`raise_exception`, `strftime_now`, `range`, `namespace`, `dict`).
extension Interpreter {
    mutating func call(_ function: Value, _ arguments: CallArguments) throws(ChatTemplateError) -> Value {
        switch function {
        case .macro(let id):
            return try callMacro(id, arguments, caller: nil)
        case .caller(let id):
            let record = callers[id]
            return try invoke(record.definition, arguments, scope: record.frames, caller: nil)
        case .method(let receiver, let name):
            return try callMethod(name, on: receiver, arguments)
        case .builtin(let builtin):
            return try callBuiltin(builtin, arguments)
        case .undefined(let undefined):
            throw ChatTemplateError(.undefinedValue, undefined.reason)
        default:
            throw ChatTemplateError(.typeMismatch, "'\(function.typeName)' object is not callable")
        }
    }

    mutating func callMacro(_ id: Int, _ arguments: CallArguments, caller: Value?) throws(ChatTemplateError) -> Value {
        let record = macros[id]
        return try invoke(record.definition, arguments, scope: Array(frames.prefix(record.visibleFrames)), caller: caller)
    }

    /// Runs a macro body in a new frame above `scope` and returns what it rendered.
    private mutating func invoke(
        _ macro: MacroDefinition, _ arguments: CallArguments, scope: [[String: Value]], caller: Value?
    ) throws(ChatTemplateError) -> Value {
        let parameterNames = macro.parameters.map(\.name)
        if arguments.positional.count > parameterNames.count, !macro.acceptsExtraPositional {
            throw ChatTemplateError(
                .invalidArgument, "macro '\(macro.name)' takes not more than \(parameterNames.count) argument(s)")
        }
        var frame: [String: Value] = [:]
        var extraKeywords = Dict()
        for (name, value) in arguments.keyword {
            if let index = parameterNames.firstIndex(of: name) {
                guard index >= arguments.positional.count else {
                    throw ChatTemplateError(.invalidArgument, "macro '\(macro.name)' got multiple values for argument '\(name)'")
                }
                frame[name] = value
            } else if macro.acceptsExtraKeywords {
                extraKeywords[name] = value
            } else {
                throw ChatTemplateError(.invalidArgument, "macro '\(macro.name)' takes no keyword argument '\(name)'")
            }
        }
        for (index, value) in arguments.positional.prefix(parameterNames.count).enumerated() {
            frame[parameterNames[index]] = value
        }
        frame["varargs"] = .list(Array(arguments.positional.dropFirst(parameterNames.count)))
        frame["kwargs"] = .dict(extraKeywords)
        if let caller { frame["caller"] = caller }
        for value in frame.values { try checkNesting(value) }

        let savedFrames = frames
        frames = scope + [frame]
        defer { frames = savedFrames }
        try enterRecursion()
        defer { leaveRecursion() }
        // Defaults are evaluated at call time, in the macro's frame (they may use earlier parameters).
        for parameter in macro.parameters where frames[frames.count - 1][parameter.name] == nil {
            var value = Value.undefined(Undefined(reason: "parameter '\(parameter.name)' was not provided"))
            if let defaultValue = parameter.defaultValue { value = try evaluate(defaultValue) }
            frames[frames.count - 1][parameter.name] = value
        }
        var output = TextBuffer(limit: limits.maxTextBytes)
        _ = try execute(macro.body, into: &output)
        return .string(output.text)
    }

    @inline(never)
    private mutating func callBuiltin(_ builtin: Builtin, _ arguments: CallArguments) throws(ChatTemplateError) -> Value {
        switch builtin {
        case .raiseException:
            let message = try arguments.bind(["message"], in: "raise_exception()")[0] ?? .string("")
            throw ChatTemplateError(.raisedByTemplate, try message.pythonString(limit: limits.maxTextBytes))
        case .strftimeNow:
            guard case .string(let format)? = try arguments.bind(["format"], in: "strftime_now()")[0] else {
                throw ChatTemplateError(.invalidArgument, "strftime_now() needs a format string")
            }
            return .string(Strftime.format(format, date: clock.date, timeZone: clock.timeZone))
        case .range:
            return try range(arguments)
        case .namespace, .dict:
            var dict = Dict()
            guard arguments.positional.count <= 1 else {
                throw ChatTemplateError(.invalidArgument, "\(builtin.rawValue)() takes at most 1 positional argument")
            }
            if let initial = arguments.positional.first {
                guard case .dict(let values) = initial else {
                    throw ChatTemplateError(
                        .invalidArgument, "\(builtin.rawValue)() needs a dict as positional argument, got '\(initial.typeName)'")
                }
                dict = values
            }
            for (name, value) in arguments.keyword { dict[name] = value }
            for value in dict.values { try checkNesting(value) }
            guard builtin == .namespace else { return .dict(dict) }
            try charge(RenderLimits.tableEntryCost)
            namespaces.append(dict)
            return .namespace(namespaces.count - 1)
        }
    }

    private mutating func range(_ arguments: CallArguments) throws(ChatTemplateError) -> Value {
        guard arguments.keyword.isEmpty, (1...3).contains(arguments.positional.count) else {
            throw ChatTemplateError(.invalidArgument, "range() takes 1 to 3 integer arguments")
        }
        var bounds: [Int] = []
        for value in arguments.positional {
            guard let number = value.integerValue else {
                throw ChatTemplateError(.typeMismatch, "range() arguments must be integers, not '\(value.typeName)'")
            }
            bounds.append(number)
        }
        let (start, stop) = bounds.count == 1 ? (0, bounds[0]) : (bounds[0], bounds[1])
        let step = bounds.count == 3 ? bounds[2] : 1
        guard step != 0 else { throw ChatTemplateError(.invalidArgument, "range() step must not be zero") }
        let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
        let estimate = span <= 0 ? 0 : (span / Double(step.magnitude)).rounded(.up)
        guard estimate <= Double(limits.maxCollectionCount) else {
            throw ChatTemplateError(.limitExceeded, "range() would have more than \(limits.maxCollectionCount) items")
        }
        let count = Int(estimate)
        try charge(count)
        return .list(Interpreter.strideValues(from: start, to: stop, by: step).map(Value.int))
    }
}

/// Runs a parsed template against its variables, with Jinja's scoping: a `for` iteration and a
/// macro call each get their own frame (so `set` inside them does not leak out), `if` does not.
struct Interpreter {
    let limits: RenderLimits
    let clock: RenderClock
    /// Variable frames, innermost last. Frame 0 holds the render variables and top-level `set`s.
    var frames: [[String: Value]]
    /// Attributes of each `namespace()` created, indexed by `Value.namespace`.
    var namespaces: [Dict] = []
    var macros: [DefinedMacro] = []
    var callers: [DefinedCaller] = []
    private var steps = 0
    private var depth = 0

    struct DefinedMacro {
        var definition: MacroDefinition
        /// How many frames were visible where the macro was defined; its body sees those.
        var visibleFrames: Int
    }

    struct DefinedCaller {
        var definition: MacroDefinition
        /// The frames at the `{% call %}` tag, which the caller body sees.
        var frames: [[String: Value]]
    }

    enum Flow {
        case normal
        case breakLoop
        case continueLoop
    }

    init(variables: [String: Value], clock: RenderClock, limits: RenderLimits) {
        self.limits = limits
        self.clock = clock
        self.frames = [variables]
    }

    mutating func render(_ body: [Statement]) throws(ChatTemplateError) -> String {
        var output = TextBuffer(limit: limits.maxTextBytes)
        _ = try execute(body, into: &output)
        return output.text
    }

    // MARK: - Bookkeeping

    /// Counts `units` of work against the step limit.
    mutating func charge(_ units: Int = 1) throws(ChatTemplateError) {
        steps += units
        guard steps <= limits.maxSteps else {
            throw ChatTemplateError(
                .limitExceeded,
                "rendering took more than \(limits.maxSteps) steps; the template may loop without end")
        }
    }

    /// Counts the work of copying a string of `bytes` bytes.
    mutating func charge(bytes: Int) throws(ChatTemplateError) {
        try charge(1 + bytes / 256)
    }

    mutating func enterRecursion() throws(ChatTemplateError) {
        depth += 1
        guard depth <= limits.maxRecursionDepth else {
            throw ChatTemplateError(
                .limitExceeded,
                "template evaluation nested more than \(limits.maxRecursionDepth) levels deep (runaway macro recursion?)")
        }
    }

    mutating func leaveRecursion() {
        depth -= 1
    }

    /// Rejects values nested too deeply to print or compare safely.
    func checkNesting(_ value: Value) throws(ChatTemplateError) {
        if value.nestingExceeds(limits.maxValueDepth) {
            throw ChatTemplateError(
                .limitExceeded, "a value nests lists or dictionaries more than \(limits.maxValueDepth) levels deep")
        }
    }

    func lookup(_ name: String) -> Value {
        for frame in frames.reversed() {
            if let value = frame[name] { return value }
        }
        if let builtin = Builtin(rawValue: name) { return .builtin(builtin) }
        return .undefined(.variable(name))
    }

    mutating func assign(_ name: String, _ value: Value) throws(ChatTemplateError) {
        try checkNesting(value)
        frames[frames.count - 1][name] = value
    }

    // MARK: - Statements

    mutating func execute(_ statements: [Statement], into output: inout TextBuffer) throws(ChatTemplateError) -> Flow {
        for statement in statements {
            let flow = try execute(statement, into: &output)
            if flow != .normal { return flow }
        }
        return .normal
    }

    /// Runs one statement. Each kind is handled out of line, keeping this frame small: it is
    /// on the recursion path of nested blocks and macro calls.
    private mutating func execute(_ statement: Statement, into output: inout TextBuffer) throws(ChatTemplateError) -> Flow {
        try charge()
        try enterRecursion()
        defer { leaveRecursion() }
        do {
            switch statement.kind {
            case .text(let text): try output.append(text)
            case .output(let expression): try executeOutput(expression, into: &output)
            case .conditional(let branches, let otherwise): return try executeConditional(branches, otherwise, into: &output)
            case .forLoop(let loop): try executeFor(loop, into: &output)
            case .set(let target, let expression): try executeSet(target, expression)
            case .setBlock(let target, let filters, let body): try assign(target, try renderFiltered(body, filters))
            case .macro(let definition): try define(definition)
            case .callBlock(let call, let caller): try write(try evaluateCallBlock(call, caller: caller), into: &output)
            case .filterBlock(let filters, let body): try write(try renderFiltered(body, filters), into: &output)
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            }
            return .normal
        } catch {
            throw error.located(at: statement.location)
        }
    }

    @inline(never)
    private mutating func executeOutput(_ expression: Expression, into output: inout TextBuffer) throws(ChatTemplateError) {
        try write(try evaluate(expression), into: &output)
    }

    @inline(never)
    private mutating func executeConditional(
        _ branches: [(test: Expression, body: [Statement])], _ otherwise: [Statement], into output: inout TextBuffer
    ) throws(ChatTemplateError) -> Flow {
        for branch in branches where try evaluate(branch.test).isTruthy {
            return try execute(branch.body, into: &output)
        }
        return try execute(otherwise, into: &output)
    }

    @inline(never)
    private mutating func executeSet(_ target: AssignTarget, _ expression: Expression) throws(ChatTemplateError) {
        try assign(target, try evaluate(expression))
    }

    @inline(never)
    private mutating func define(_ macro: MacroDefinition) throws(ChatTemplateError) {
        try charge(RenderLimits.tableEntryCost)
        macros.append(DefinedMacro(definition: macro, visibleFrames: frames.count))
        try assign(macro.name, .macro(macros.count - 1))
    }

    /// Appends `str(value)` to the output.
    mutating func write(_ value: Value, into output: inout TextBuffer) throws(ChatTemplateError) {
        let text = try value.pythonString(limit: limits.maxTextBytes)
        try charge(bytes: text.utf8.count)
        try output.append(text)
    }

    private mutating func assign(_ target: AssignTarget, _ value: Value) throws(ChatTemplateError) {
        switch target {
        case .name(let name):
            try assign(name, value)
        case .names(let names):
            let items = try unpack(value, into: names.count)
            for (name, item) in zip(names, items) { try assign(name, item) }
        case .namespaceAttribute(let namespaceName, let attribute):
            guard case .namespace(let id) = lookup(namespaceName) else {
                throw ChatTemplateError(
                    .typeMismatch, "cannot set attribute '\(attribute)': '\(namespaceName)' is not a namespace()")
            }
            try checkNesting(value)
            namespaces[id][attribute] = value
        }
    }

    /// The items of `value` for `a, b = value`, which must have exactly `count` of them.
    func unpack(_ value: Value, into count: Int) throws(ChatTemplateError) -> [Value] {
        let items = try iterate(value)
        guard items.count == count else {
            let problem = items.count > count ? "too many" : "not enough"
            throw ChatTemplateError(
                .invalidArgument, "\(problem) values to unpack (expected \(count), got \(items.count))")
        }
        return items
    }

    @inline(never)
    private mutating func executeFor(_ loop: ForLoop, into output: inout TextBuffer) throws(ChatTemplateError) {
        let iterable = try evaluate(loop.iterable)
        var items: [Value]
        do {
            items = try iterate(iterable)
        } catch {
            throw error.located(at: loop.iterable.location)
        }
        if let condition = loop.condition {
            var kept: [Value] = []
            for item in items {
                try charge()
                frames.append([:])
                defer { frames.removeLast() }
                try bind(loop.target, to: item)
                if try evaluate(condition).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise, into: &output)
            return
        }
        for (index, item) in items.enumerated() {
            try charge()
            frames.append([:])
            defer { frames.removeLast() }
            try bind(loop.target, to: item)
            let state = LoopState(
                index0: index, length: items.count,
                previous: index > 0 ? items[index - 1] : nil,
                next: index + 1 < items.count ? items[index + 1] : nil)
            frames[frames.count - 1]["loop"] = .loop(state)
            if try execute(loop.body, into: &output) == .breakLoop { break }
        }
    }

    private mutating func bind(_ target: AssignTarget, to item: Value) throws(ChatTemplateError) {
        switch target {
        case .name(let name):
            frames[frames.count - 1][name] = item
        case .names(let names):
            for (name, value) in zip(names, try unpack(item, into: names.count)) {
                frames[frames.count - 1][name] = value
            }
        case .namespaceAttribute:
            throw ChatTemplateError(.syntax, "a for loop cannot assign to a namespace attribute")
        }
    }

    /// Renders `body` to a string and passes it through `filters`.
    @inline(never)
    private mutating func renderFiltered(_ body: [Statement], _ filters: [FilterApplication]) throws(ChatTemplateError) -> Value {
        var buffer = TextBuffer(limit: limits.maxTextBytes)
        _ = try execute(body, into: &buffer)
        var value = Value.string(buffer.text)
        for filter in filters {
            do {
                let arguments = try evaluate(filter.arguments)
                value = try applyFilter(filter.name, to: value, arguments)
            } catch {
                throw error.located(at: filter.location)
            }
        }
        return value
    }

    @inline(never)
    private mutating func evaluateCallBlock(_ call: Expression, caller: MacroDefinition) throws(ChatTemplateError) -> Value {
        guard case .call(let callee, let argumentExpressions) = call.kind else {
            throw ChatTemplateError(.syntax, "expected a macro call after 'call'", at: call.location)
        }
        let target = try evaluate(callee)
        let arguments = try evaluate(argumentExpressions)
        try charge(RenderLimits.tableEntryCost)
        callers.append(DefinedCaller(definition: caller, frames: frames))
        guard case .macro(let id) = target else {
            throw ChatTemplateError(.typeMismatch, "'call' needs a macro, got '\(target.typeName)'", at: call.location)
        }
        return try callMacro(id, arguments, caller: .caller(callers.count - 1))
    }
}

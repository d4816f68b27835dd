import SkiffJSON

/// A Hugging Face chat template (the Jinja source from `tokenizer_config.json` or GGUF
/// `tokenizer.chat_template`), parsed once and rendered for each conversation.
///
/// Rendering follows transformers' `apply_chat_template`: Jinja2's sandboxed environment with
/// `trim_blocks` and `lstrip_blocks`, the `loopcontrols` extension (`break`/`continue`), the
/// globals `raise_exception` and `strftime_now`, and a `tojson` filter that writes non-ASCII
/// text as is. It implements the subset of Jinja real chat templates use; features outside it
/// (template inheritance, `include`/`import`, `with`, recursive loops, `*args` in calls,
/// `%`-formatting, format specs in `str.format`, and the filters `format`, `groupby`, `pprint`,
/// `random`, `slice`, `striptags`, `truncate`, `urlencode`, `urlize`, `wordwrap`, `xmlattr`,
/// `filesizeformat`) fail with `.unsupportedFeature` or `.syntax` rather than rendering
/// something different. Known differences from Jinja: tuples print as lists (`[1, 2]`, not
/// `(1, 2)`); `map`, `select` and friends return lists rather than generators, so a few
/// expressions Jinja rejects (`tojson` of a `map` result) work here; `|safe` does not make `+`
/// HTML-escape its other operand; integers are 64-bit (overflow throws `.limitExceeded`).
///
/// Every failure is a thrown `ChatTemplateError`; no template or input makes it trap, hang or
/// grow without bound (output size, work, recursion and nesting are limited).
public struct ChatTemplate: Sendable {
    private let body: [Statement]
    /// The template's Jinja source.
    public let source: String

    /// Parses `source` once. Throws a `.syntax` error with line and column for malformed
    /// templates and unknown filter or test names, or `.limitExceeded` for nesting beyond the
    /// parser's limits. Does not check anything that depends on the variables.
    public init(source: String) throws(ChatTemplateError) {
        body = try Parser.parse(source)
        self.source = source
    }

    /// Renders the conversation as Hugging Face's `apply_chat_template(..., tokenize=False)` does.
    ///
    /// The template sees `messages` (a list of `{"role", "content"}` dictionaries, with `tool_calls` and
    /// `tool_call_id` where messages have them), `tools` (the OpenAI tool definitions, when given),
    /// `add_generation_prompt`, `bos_token`, `eos_token`, `tools` and `documents` (`none` unless
    /// given in `extraVariables`, as transformers passes them), and every entry of
    /// `extraVariables` (e.g. `date_string`, `enable_thinking`). The named parameters win over
    /// entries of `extraVariables` with the same names. `strftime_now` reads the current time in
    /// the local time zone.
    ///
    /// Throws `.raisedByTemplate` when the template calls `raise_exception` (its message is the
    /// template's text), and other codes for errors while rendering; it never returns partial output.
    public func render(
        messages: [ChatMessage],
        addGenerationPrompt: Bool,
        bosToken: String,
        eosToken: String,
        tools: [JSONValue]? = nil,
        extraVariables: [String: TemplateValue] = [:]
    ) throws(ChatTemplateError) -> String {
        var variables = extraVariables
        variables["messages"] = .array(messages.map(\.templateValue))
        if let tools { variables["tools"] = .array(tools.map(TemplateValue.init)) }
        variables["add_generation_prompt"] = .bool(addGenerationPrompt)
        variables["bos_token"] = .string(bosToken)
        variables["eos_token"] = .string(eosToken)
        return try render(variables: variables, clock: .current, limits: .standard)
    }

    /// Renders with exactly `variables` (plus `tools`/`documents` defaulting to none), a given
    /// clock for `strftime_now`, and given limits.
    func render(variables: [String: TemplateValue], clock: RenderClock, limits: RenderLimits) throws(ChatTemplateError) -> String {
        var context: [String: Value] = ["tools": .none, "documents": .none]
        for (name, value) in variables {
            guard !value.nestingExceeds(limits.maxValueDepth) else {
                throw ChatTemplateError(
                    .limitExceeded,
                    "variable '\(name)' nests arrays or objects more than \(limits.maxValueDepth) levels deep")
            }
            context[name] = Value(value)
        }
        var interpreter = Interpreter(variables: context, clock: clock, limits: limits)
        return try interpreter.render(body)
    }
}

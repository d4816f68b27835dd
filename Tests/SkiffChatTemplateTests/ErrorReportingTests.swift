import Testing

@testable import SkiffChatTemplate

/// Errors say what went wrong and where, in words a user can act on.
@Suite("Error reporting")
struct ErrorReportingTests {
    private func parseError(_ source: String) -> ChatTemplateError? {
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: source) }
    }

    private func renderError(_ source: String, _ variables: [String: TemplateValue] = [:]) -> ChatTemplateError? {
        if case .failure(let error) = renderForTest(source, variables) { return error }
        Issue.record("expected \(source.debugDescription) to fail")
        return nil
    }

    @Test("An unknown filter is a syntax error naming the filter, its line and column")
    func unknownFilter() {
        let error = parseError("{% if true %}\n{% endif %}\nHello {{ name|foo }}")
        #expect(error?.code == .syntax)
        #expect(error?.line == 3)
        #expect(error?.column == 15)
        #expect(error?.description == "chat template line 3, column 15: unknown filter 'foo'")
    }

    @Test("An unknown test is a syntax error")
    func unknownTest() {
        let error = parseError("{{ x is frobnicated }}")
        #expect(error?.description == "chat template line 1, column 9: unknown test 'frobnicated'")
    }

    @Test("Unknown filters inside an if only fail when that branch runs, as in Jinja")
    func unknownFilterInConditional() throws {
        let template = try ChatTemplate(source: "{% if x is defined %}{{ x|from_json }}{% endif %}ok")
        #expect(try template.render(variables: [:], clock: Fixtures.clock, limits: .standard) == "ok")
        let error = #expect(throws: ChatTemplateError.self) {
            try template.render(variables: ["x": "{}"], clock: Fixtures.clock, limits: .standard)
        }
        #expect(error?.code == .syntax)
        #expect(error?.column == 27)
    }

    @Test("Unclosed blocks name the tags that would close them")
    func unclosedBlock() {
        let error = parseError("{% for m in messages %}\n{{ m }}")
        #expect(error?.code == .syntax)
        #expect(error?.message == "unexpected end of template, expected 'else' or 'endfor'")
        #expect(error?.line == 2)
    }

    @Test("Unexpected tokens are reported where they are", arguments: [
        ("{{ 1 + }}", 1, 8, "expected an expression, found '}}'"),
        ("line one\n  {% if %}", 2, 9, "expected an expression, found '%}'"),
        ("{{ [1, 2) }}", 1, 9, "unexpected ')', expected ']'"),
        ("{{ 'abc }}", 1, 4, "string literal is never closed"),
        ("a\n{# never closed", 2, 1, "comment is never closed with '#}'"),
        ("{{ x ", 1, 1, "'{{' tag is never closed with '}}'"),
        ("{% frobnicate %}", 1, 4, "unknown tag 'frobnicate'"),
        ("{% break %}", 1, 4, "'break' is only allowed inside a for loop"),
        ("{{ a ! b }}", 1, 6, "unexpected character '!'"),
        ("{% set true = 1 %}", 1, 8, "cannot assign to 'true'"),
    ])
    func syntaxErrorLocation(source: String, line: Int, column: Int, message: String) {
        let error = parseError(source)
        #expect(error?.code == .syntax)
        #expect(error?.line == line)
        #expect(error?.column == column)
        #expect(error?.message == message)
    }

    @Test("raise_exception surfaces as its own code with the template's message verbatim")
    func raisedByTemplate() {
        let error = renderError("{%- if true %}\n  {{- raise_exception('Roles must alternate: ' ~ 3) }}\n{%- endif %}")
        #expect(error?.code == .raisedByTemplate)
        #expect(error?.message == "Roles must alternate: 3")
        #expect(error?.line == 2)
        #expect(error?.description == "chat template line 2, column 7: template raised an exception: Roles must alternate: 3")
    }

    @Test("Runtime errors point at the failing expression", arguments: [
        ("{{ missing.attr }}", ChatTemplateError.Code.undefinedValue, "'missing' is undefined", 4),
        ("{{ d.a.b }}", .undefinedValue, "'dict object' has no attribute 'a'", 4),
        ("{{ 'a' + 1 }}", .typeMismatch, "unsupported operand types for +: 'str' and 'int'", 8),
        ("{{ 1 // 0 }}", .invalidArgument, "division by zero", 6),
        ("{{ [].append(1) }}", .unsupportedFeature,
         "access to attribute 'append' of 'list' object is unsafe: templates cannot modify values", 4),
        ("{{ 'x'|wordwrap }}", .unsupportedFeature, "filter 'wordwrap' is not supported by this renderer", 8),
        ("{% for x in 5 %}{% endfor %}", .typeMismatch, "'int' object is not iterable", 13),
        ("{{ '%s' % 1 }}", .unsupportedFeature, "printf-style '%' string formatting is not supported", 9),
    ])
    func runtimeErrors(source: String, code: ChatTemplateError.Code, message: String, column: Int) {
        let error = renderError(source, ["d": ["x": 1]])
        #expect(error?.code == code)
        #expect(error?.message == message)
        #expect(error?.line == 1)
        #expect(error?.column == column)
    }

    @Test("Printing and testing undefined values is not an error")
    func undefinedIsLenient() {
        let result = renderForTest("[{{ missing }}][{{ d.nope }}]{{ missing is defined }}{{ missing|default('d') }}", ["d": [:]])
        #expect(result == .success("[][]Falsed"))
    }
}

import Testing

@testable import SkiffChatTemplate

/// Small templates (`Fixtures/snippets.json`) for each part of the language, checked against
/// Python Jinja2's output (`Fixtures/expected/snippets.json`).
@Suite("Jinja language features match Python Jinja2")
struct LanguageFeatureTests {
    @Test("Literals, comments and raw blocks", arguments: try Fixtures.snippets(prefix: "literal/"))
    func literals(_ snippet: SnippetCase) { check(snippet) }

    @Test("Operators, precedence and comparisons", arguments: try Fixtures.snippets(prefix: "ops/"))
    func operators(_ snippet: SnippetCase) { check(snippet) }

    @Test("Variables, attributes, subscripts and slices", arguments: try Fixtures.snippets(prefix: "access/"))
    func access(_ snippet: SnippetCase) { check(snippet) }

    @Test("Whitespace control", arguments: try Fixtures.snippets(prefix: "ws/"))
    func whitespace(_ snippet: SnippetCase) { check(snippet) }

    @Test("For loops and loop variables", arguments: try Fixtures.snippets(prefix: "for/"))
    func loops(_ snippet: SnippetCase) { check(snippet) }

    @Test("If statements and truthiness", arguments: try Fixtures.snippets(prefix: "if/"))
    func conditionals(_ snippet: SnippetCase) { check(snippet) }

    @Test("Set, block set and namespace", arguments: try Fixtures.snippets(prefix: "set/"))
    func assignments(_ snippet: SnippetCase) { check(snippet) }

    @Test("Macros and call blocks", arguments: try Fixtures.snippets(prefix: "macro/"))
    func macros(_ snippet: SnippetCase) { check(snippet) }

    @Test("Filters", arguments: try Fixtures.snippets(prefix: "filter/"))
    func filters(_ snippet: SnippetCase) { check(snippet) }

    @Test("Tests (is ...)", arguments: try Fixtures.snippets(prefix: "test/"))
    func tests(_ snippet: SnippetCase) { check(snippet) }

    @Test("String, dict and list methods", arguments: try Fixtures.snippets(prefix: "method/"))
    func methods(_ snippet: SnippetCase) { check(snippet) }

    @Test("Globals: raise_exception, strftime_now, range, namespace, dict", arguments: try Fixtures.snippets(prefix: "global/"))
    func globals(_ snippet: SnippetCase) { check(snippet) }

    @Test("Syntax errors", arguments: try Fixtures.snippets(prefix: "syntax/"))
    func syntaxErrors(_ snippet: SnippetCase) { check(snippet) }

    private func check(_ snippet: SnippetCase) {
        snippet.expected.verify(renderForTest(snippet.template, snippet.variables))
    }
}

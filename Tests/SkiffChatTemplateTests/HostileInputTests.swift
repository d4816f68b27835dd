import Foundation
import Testing

@testable import SkiffChatTemplate

/// Templates written to hang, exhaust memory or overflow the stack end with a thrown error.
@Suite("Hostile input is bounded")
struct HostileInputTests {
    /// Parses and renders; returns the error, recording an issue if there is none.
    private func failure(_ source: String, limits: RenderLimits = .standard) -> ChatTemplateError? {
        switch renderForTest(source, [:], limits: limits) {
        case .failure(let error): return error
        case .success(let output):
            Issue.record("expected an error, rendered \(output.utf8.count) bytes")
            return nil
        }
    }

    @Test("Deeply nested syntax is refused while parsing", arguments: [
        String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000),
        String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000),
        String(repeating: "{'a': ", count: 50_000) + "1" + String(repeating: "}", count: 50_000),
        String(repeating: "not ", count: 100_000) + "x",
        String(repeating: "- ", count: 100_000) + "1",
        Array(repeating: "1", count: 100_000).joined(separator: " + "),
        "x" + String(repeating: "|trim", count: 100_000),
        "x" + String(repeating: ".a", count: 100_000),
        "x" + String(repeating: "[0]", count: 100_000),
        Array(repeating: "a", count: 100_000).joined(separator: " if b else "),
    ])
    func deepExpressions(_ expression: String) {
        let error = #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ \(expression) }}") }
        #expect(error?.code == .limitExceeded)
    }

    @Test("Deeply nested statements are refused while parsing")
    func deepStatements() {
        let source = String(repeating: "{% if true %}", count: 50_000) + String(repeating: "{% endif %}", count: 50_000)
        let error = #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: source) }
        #expect(error?.code == .limitExceeded)
    }

    /// The range is refused from its size before it is built or iterated: were it built first, a range of
    /// 10^15 items could not be (8 PB), and each item iterated costs a step, which 10 steps would not cover.
    @Test("A range too large to iterate fails at once instead of hanging", .timeLimit(.minutes(10)),
          arguments: [100_000_000, 1_000_000_000_000_000])
    func hugeRange(_ count: Int) {
        let error = failure("{% for i in range(\(count)) %}{{ i }}{% endfor %}", limits: RenderLimits(maxSteps: 10))
        #expect(error?.code == .limitExceeded)
        #expect(error?.message == "range() would have more than 1000000 items")
    }

    /// 10^12 iterations end at the standard limit's 2 million steps, with the step limit's own error.
    @Test("Nested loops stop at the work limit", .timeLimit(.minutes(10)))
    func nestedLoops() {
        let error = failure("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}")
        #expect(error?.code == .limitExceeded)
        #expect(error?.message == "rendering took more than 2000000 steps; the template may loop without end")
    }

    @Test("Output is limited in size")
    func outputBomb() {
        let error = failure(
            "{% for i in range(1000000) %}{{ 'x' * 1000 }}{% endfor %}",
            limits: RenderLimits(maxTextBytes: 1 << 20, maxSteps: 10_000_000))
        #expect(error?.code == .limitExceeded)
        #expect(error?.message == "text would be longer than the limit of 1048576 bytes")
    }

    @Test("Strings, lists and values cannot grow without bound", arguments: [
        "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
        "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}",
        "{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'k': ns.x} %}{% endfor %}",
        "{% set ns = namespace(x=[1]) %}{% for i in range(100000) %}{% set ns.x = ns.x|batch(1)|list %}{% endfor %}",
        "{{ 'x' * 1000000000000 }}",
        "{{ [1] * 1000000000000 }}",
        "{{ (['x' * 1000000] * 1000)|join }}",
        "{{ (['x' * 1000000] * 1000)|string }}",
        "{{ (['x' * 1000000] * 1000)|tojson }}",
        "{{ ('x' * 1000000)|replace('x', 'yyyyyyyyyyyyyyyyyyyyyyyyy') }}",
        "{% for i in range(1000000) %}{% set ns = namespace(i=i) %}{% macro m() %}{% endmacro %}{% endfor %}",
        "{{ 2 ** 100 }}",
        "{{ 9223372036854775807 + 1 }}",
    ])
    func growth(_ source: String) {
        let error = failure(source)
        #expect(error?.code == .limitExceeded)
    }

    @Test("Runaway macro recursion ends with an error", arguments: [
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% macro f(n) %}{% for i in [1] %}{% if true %}{{ f(n + 1) }}{% endif %}{% endfor %}{% endmacro %}{{ f(0) }}",
        "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
        "{% macro f() %}{% call f() %}x{% endcall %}{% endmacro %}{{ f() }}",
        "{% macro f(x) %}{{ f(x|batch(1)|list|batch(1)|list) }}{% endmacro %}{{ f([1]) }}",
    ])
    func runawayRecursion(_ source: String) {
        let error = failure(source)
        #expect(error?.code == .limitExceeded)
    }

    @Test("Deep variables are refused before rendering")
    func deepVariables() {
        var value = TemplateValue.int(1)
        for _ in 0..<200 { value = .array([value]) }
        let result = renderForTest("{{ x }}", ["x": value])
        guard case .failure(let error) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .limitExceeded)
    }

    @Test("Unfinished constructs at the end of the source are syntax errors", arguments: [
        "{", "{{", "{%", "{#", "{{ ", "{% if", "{% if x", "{% if x %}", "{% for", "{% for x in", "{% for x in y %}",
        "{{ 'abc", "{{ (", "{{ [1,", "{{ {'a':", "{{ x|", "{{ x is", "{% raw %}abc", "{% macro f(", "{% set x",
        "{% set x %}", "{{ x.", "{{ x[", "{{ x[1:", "{% call f() %}", "{% filter upper %}", "{{ 'a' 'b", "{{ 1e",
        "{{ -", "{{ not", "{% endraw %}", "}}", "%}", "#}", "{{ }}", "{% %}",
    ])
    func unfinished(_ source: String) {
        switch renderForTest(source) {
        case .success: break  // A few of these are plain text to Jinja too ("}}", "{", ...).
        case .failure(let error): #expect([.syntax, .undefinedValue].contains(error.code))
        }
    }

    @Test("Random token soup never crashes")
    func fuzz() {
        let pieces = [
            "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "if", "elif", "else", "endif", "for", "in",
            "endfor", "set", "macro", "endmacro", "call", "endcall", "filter", "endfilter", "raw", "endraw", "x", "y",
            "loop", "ns", "namespace(", "range(", "(", ")", "[", "]", "{", "}", ",", ":", ".", "|", "~", "+", "-", "*",
            "/", "//", "%", "**", "==", "!=", "<", ">", "=", "is", "not", "and", "or", "'s'", "\"t\"", "1", "2.5", "0x",
            "none", "true", "trim", "join", "tojson", "items", "defined", "string", " ", "\n", "\t", "é", "\\", "'",
            "\"", "raise_exception(", "caller(", "break", "continue", "1e9", "-1", "[::-1]", "messages",
            "9223372036854775807", "[1::9223372036854775807]", "batch(", "round(", "center(", "indent(", "1000000",
        ]
        var generator = SplitMix64(seed: 42)
        let limits = RenderLimits(maxTextBytes: 1 << 16, maxSteps: 20_000)
        for _ in 0..<3_000 {
            let count = Int(generator.next() % 40) + 1
            let source = (0..<count).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined()
            let variables: [String: TemplateValue] = ["x": [1, "a", ["k": [true, .none]]], "y": "text", "messages": []]
            _ = renderForTest(source, variables, limits: limits)
        }
    }
}

/// A small deterministic random number generator for the fuzz test.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import SkiffGrammar
import Testing

@Suite struct GBNFTests {
    static let arithmetic = """
        # sums of products
        root ::= sum
        sum ::= product (("+" | "-") product)*
        product ::= factor ("*" factor)*
        factor ::= [0-9]+ | "(" ws sum ws ")"
        ws ::= [ \\t\\n]{0,3}
        """

    @Test func aGrammarMatchesItsLanguage() throws {
        let grammar = try Grammar(gbnf: Self.arithmetic)
        for text in ["1", "12+3*4", "(1+2)*3", "( 1 )", "((2))-0"] { #expect(try matches(grammar, text), "\(text)") }
        for text in ["", "+1", "1+", "(1", "1 + 2", "(    1)", "a"] { #expect(try !matches(grammar, text), "\(text)") }
    }

    @Test func printedGBNFReadsBackToTheSameLanguage() throws {
        let grammar = try Grammar(gbnf: Self.arithmetic)
        let again = try Grammar(gbnf: grammar.gbnf)
        for text in ["1", "12+3*4", "(1+2)*3", "( 1 )", "", "1+", "(    1)"] {
            #expect(try matches(grammar, text) == matches(again, text), "\(text)")
        }
    }

    @Test func charactersEscapesAndRepetitionCounts() throws {
        let grammar = try Grammar(gbnf: #"""
            root ::= "\x41" [^a-z\]] "\u00e9" . [\-x]{2} "ok"?
            """#)
        #expect(try matches(grammar, "AZé!-x"))
        #expect(try matches(grammar, "A!é€xxok"))
        #expect(try !matches(grammar, "A]é€xxok"))
        #expect(try !matches(grammar, "Aaé!-x"))
        #expect(try !matches(grammar, "AZé!-"))
    }

    @Test(arguments: [
        ("root ::= foo", "'foo' is used but never defined"),
        ("start ::= \"a\"", "no rule named 'root'"),
        ("root ::= \"a\"\nroot ::= \"b\"", "defined twice"),
        ("root ::= \"a", "never closed"),
        ("root ::= [a-", "never closed"),
        ("root ::= \"a\"{3,1}", "below its lower count"),
        ("root = \"a\"", "expected '::='"),
        ("root ::= <think>", "token references"),
        ("root ::= \"\\q\"", "unknown escape"),
        ("root ::= (\"a\"", "expected ')'"),
    ])
    func badGrammarsAreRefusedWithTheirPlace(text: String, words: String) {
        #expect {
            try Grammar(gbnf: text)
        } throws: { error in
            (error as? GrammarError)?.code == .invalidGrammar && (error as? GrammarError)?.message.contains(words) == true
        }
    }

    @Test func leftRecursionIsRefused() {
        #expect {
            try Grammar(gbnf: "root ::= list\nlist ::= opt list \",\" \"x\" | \"x\"\nopt ::= \" \"?")
        } throws: { error in
            guard let error = error as? GrammarError else { return false }
            return error.code == .unusableGrammar && error.message.contains("list → list")
        }
    }

    @Test func rulesContinueOnNewLinesOnlyInsideParentheses() throws {
        let grammar = try Grammar(gbnf: """
            root ::= (
                "a"
                | "b"
            ) tail
            tail ::=
                "!"
            """)
        #expect(try matches(grammar, "a!"))
        #expect(try matches(grammar, "b!"))
        #expect(try !matches(grammar, "a"))
    }
}

@Suite struct UnusableGrammarTests {
    @Test(arguments: ["root ::= [^\\x00-\\U0010FFFF]", "root ::= a\na ::= \"x\" a"])
    func aGrammarMatchingNoTextIsRefused(text: String) {
        #expect {
            try Grammar(gbnf: text)
        } throws: { error in
            (error as? GrammarError)?.code == .unusableGrammar && (error as? GrammarError)?.message.contains("matches no text") == true
        }
    }
}

import Foundation
import SkiffGrammar
import Testing

@Suite struct TokenMaskTests {
    static let grammars = [
        #"root ::= "{" ws "\"a\"" ws ":" ws value ws "}"  value ::= "true" | "false" | "null" | num | str  num ::= "-"? [0-9]+ ("." [0-9]+)? ([eE] [0-9]+)?  str ::= "\"" ([^"\\] | "\\" ["\\n])* "\""  ws ::= [ ]?"#,
        #"root ::= item ("," " "? item)*  item ::= "abc" | "ab" | [a-c]+ | "é"+"#,
        #"root ::= ("x" root "y")? "z""#,
    ]

    @Test(arguments: grammars)
    func masksEqualTryingEveryTokenAlongRandomTexts(source: String) throws {
        let grammar = try CompiledGrammar(try Grammar(gbnf: source.replacingOccurrences(of: "  ", with: "\n")), trie: testTrie)
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 30 {
            var matcher = GrammarMatcher(grammar)
            for _ in 0 ..< 40 {
                let mask = matcher.allowedTokens()
                #expect(mask == bruteForceAllowed(matcher))
                let allowed = (0 ..< Int32(testTokens.count)).filter { mask.contains($0) }
                guard let token = allowed.randomElement(using: &generator), !matcher.mustEnd else { break }
                let accepted = matcher.accept(token)
                #expect(accepted)
            }
        }
        #expect(grammar.computedNodeMasks > 0)
    }

    @Test func theEndIsAllowedOnlyWhenTheTextIsComplete() throws {
        var matcher = GrammarMatcher(try CompiledGrammar(try Grammar(gbnf: #"root ::= "ab" "c"?"#), trie: testTrie))
        #expect(!matcher.canEnd)
        let first = matcher.accept(bytes: Array("ab".utf8))
        #expect(first && matcher.canEnd && !matcher.mustEnd)
        let second = matcher.accept(bytes: Array("c".utf8))
        #expect(second && matcher.mustEnd)
        #expect(matcher.allowedTokens().isEmpty)
        let third = matcher.accept(bytes: Array("c".utf8))
        #expect(!third)
    }

    @Test func controlTokensAreNeverAllowed() throws {
        var matcher = GrammarMatcher(try CompiledGrammar(try Grammar(gbnf: "root ::= .*"), trie: testTrie))
        let mask = matcher.allowedTokens()
        #expect(!mask.contains(0))
        // Every token but the control token and a lone UTF-8 continuation byte, which no text starts with.
        #expect(!mask.contains(Int32(testTokens.firstIndex { $0 == [0xA9] }!)))
        #expect(mask.population == testTokens.count - 2)
        let accepted = matcher.accept(0)
        #expect(!accepted)
    }
}

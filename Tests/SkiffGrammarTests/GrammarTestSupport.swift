import SkiffGrammar

/// A small vocabulary: every printable ASCII character, and some longer pieces that cross rule boundaries.
let testTokens: [[UInt8]?] = {
    var tokens: [[UInt8]?] = [nil] // id 0: a control token
    for byte in UInt8(0x20) ... 0x7E { tokens.append([byte]) }
    for piece in ["\n", "\"", "\",", "\":", "{\"", "\"}", "true", "false", "null", "12", "3.", "ab", "abc", "abcd", "é", "\u{E9}x",
                  ", \"", "}}", "]}", "[{", "-1", "1e", "e5", " \"", "\"a\""] {
        tokens.append(Array(piece.utf8))
    }
    tokens.append([0xC3]) // the first byte of é alone
    tokens.append([0xA9]) // its second byte alone
    return tokens
}()

let testTrie = TokenTrie(tokens: testTokens)

/// The tokens a grammar allows, found by trying each one.
func bruteForceAllowed(_ matcher: GrammarMatcher) -> TokenMask {
    var mask = TokenMask(count: testTokens.count)
    for id in testTokens.indices {
        var copy = matcher
        if copy.accept(Int32(id)) { mask.insert(Int32(id)) }
    }
    return mask
}

/// Whether `grammar` matches `text` whole.
func matches(_ grammar: Grammar, _ text: String) throws -> Bool {
    matches(try CompiledGrammar(grammar, trie: testTrie), text)
}

/// Whether a compiled grammar matches `text` whole.
func matches(_ grammar: CompiledGrammar, _ text: String) -> Bool {
    var matcher = GrammarMatcher(grammar)
    return matcher.accept(bytes: Array(text.utf8)) && matcher.canEnd
}

/// Where one generation stands in its grammar: which tokens may come next, and whether the text may or must end.
///
/// It is a value: each sequence has its own, and copies are independent. Feed it every generated token with
/// `accept`; ask `allowedTokens` before sampling. End-of-generation tokens are the caller's: allow them when
/// `canEnd`, and end the generation when `mustEnd`.
public struct GrammarMatcher: Sendable {
    /// The grammar and vocabulary.
    public let grammar: CompiledGrammar
    private var sets: StackSets
    private var state: Int32

    /// A matcher at the start of the text.
    public init(_ grammar: CompiledGrammar) {
        self.grammar = grammar
        sets = StackSets(automaton: grammar.automaton)
        state = sets.start(at: grammar.automaton.ruleStart[Int(grammar.automaton.root)])
    }

    /// Whether the text so far is complete: the grammar may end here.
    public var canEnd: Bool { sets.reachesBottom(state) }

    /// Whether the text so far is complete and nothing may follow.
    public var mustEnd: Bool { canEnd && sets.stacks(of: state).isEmpty }

    /// Moves past `token` when the grammar allows its bytes here; returns false (and stays put) when it does not.
    public mutating func accept(_ token: Int32) -> Bool {
        guard (0 ..< grammar.trie.vocabularySize).contains(Int(token)) else { return false }
        let bytes = grammar.trie.tokenBytes[Int(token)]
        return !bytes.isEmpty && accept(bytes: bytes)
    }

    /// Moves past `bytes` when the grammar allows them here; returns false (and stays put) when it does not.
    public mutating func accept(bytes: some Sequence<UInt8>) -> Bool {
        let next = sets.advance(state, bytes)
        guard next != StackSets.dead else { return false }
        state = next
        return true
    }

    /// The tokens whose bytes the grammar allows next (end-of-generation tokens excluded: see `canEnd`).
    public mutating func allowedTokens() -> TokenMask {
        let trie = grammar.trie
        var mask = TokenMask(count: trie.vocabularySize)
        var checked: Set<Int32> = []
        for entry in sets.stacks(of: state) {
            let node = sets.node(of: entry)
            let nodeMask = grammar.mask(of: node)
            if checked.insert(node).inserted { mask.formUnion(nodeMask.accepted) }
            guard !nodeMask.uncertain.isEmpty else { continue }
            addUncertain(nodeMask.uncertain, from: sets.set(ofEntry: entry), to: &mask)
        }
        return mask
    }

    /// Walks the trie over the subtrees holding `ranks` from the set `start`, adding the tokens it allows.
    private mutating func addUncertain(_ ranks: [Int32], from start: Int32, to mask: inout TokenMask) {
        let trie = grammar.trie
        var stateAt = [Int32](repeating: 0, count: trie.maxDepth + 1)
        stateAt[0] = start
        var cursor = 0
        var k = 0
        let count = trie.nodeCount
        while k < count, cursor < ranks.count {
            let end = trie.rankEnd[k]
            if ranks[cursor] >= end {
                k = Int(trie.subtreeEnd[k])
                continue
            }
            let next = sets.advance(stateAt[Int(trie.depth[k]) - 1], trie.byte[k])
            if next == StackSets.dead {
                while cursor < ranks.count, ranks[cursor] < end { cursor += 1 }
                k = Int(trie.subtreeEnd[k])
                continue
            }
            let endingEnd = trie.rankStart[k] + trie.endingHere[k]
            while cursor < ranks.count, ranks[cursor] < endingEnd {
                mask.insert(trie.tokenOfRank[Int(ranks[cursor])])
                cursor += 1
            }
            stateAt[Int(trie.depth[k])] = next
            k += 1
        }
    }
}

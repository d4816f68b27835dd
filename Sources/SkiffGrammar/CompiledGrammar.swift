import Synchronization

/// A grammar ready to constrain one model's generation: its byte automaton, the model's token trie, and the
/// token masks of the automaton's nodes, each computed once on first use and shared by every matcher.
///
/// A node's mask splits the vocabulary in three, whatever lies below the node on the stack: tokens the node
/// accepts on its own (its rule, and rules it calls, consume them whole), tokens it rejects on its own, and
/// tokens that may pop the node's rule and so depend on the stack below (`uncertain`). A matcher copies the
/// first and checks only the last against its real stacks. This is XGrammar's adaptive token mask cache.
public final class CompiledGrammar: Sendable {
    /// The automaton.
    public let automaton: ByteAutomaton
    /// The vocabulary.
    public let trie: TokenTrie
    private let masks: Mutex<[Int32: NodeMask]>

    /// What a stack top allows on its own.
    struct NodeMask: Sendable {
        /// Tokens accepted whatever is below.
        var accepted: TokenMask
        /// Ranks (in `TokenTrie` order, ascending) of tokens that depend on what is below.
        var uncertain: [Int32]
    }

    /// Compiles `grammar` for the vocabulary `trie`.
    /// - Throws: `GrammarError` `.unusableGrammar` when the grammar is left-recursive or too large.
    public init(_ grammar: Grammar, trie: TokenTrie) throws(GrammarError) {
        automaton = try ByteAutomaton(grammar)
        self.trie = trie
        masks = Mutex([:])
    }

    /// The number of nodes whose masks are computed so far.
    public var computedNodeMasks: Int { masks.withLock { $0.count } }

    /// The mask of `node`, computed on first use.
    func mask(of node: Int32) -> NodeMask {
        if let known = masks.withLock({ $0[node] }) { return known }
        let computed = computeMask(of: node)
        masks.withLock { $0[node] = computed }
        return computed
    }

    /// Walks the trie from a stack of just `node` over an unknown caller.
    private func computeMask(of node: Int32) -> NodeMask {
        var sets = StackSets(automaton: automaton)
        var accepted = TokenMask(count: trie.vocabularySize)
        var uncertain: [Int32] = []
        // Per depth: the set after the prefix, and whether the rule could have been popped before its last byte.
        var stateAt = [Int32](repeating: 0, count: trie.maxDepth + 1)
        var poppedBefore = [Bool](repeating: false, count: trie.maxDepth + 1)
        stateAt[0] = sets.start(at: node)
        poppedBefore[0] = false
        var k = 0
        let count = trie.nodeCount
        while k < count {
            let d = Int(trie.depth[k])
            let parent = stateAt[d - 1]
            let popped = poppedBefore[d - 1] || sets.reachesBottom(parent)
            let next = sets.advance(parent, trie.byte[k])
            if next == StackSets.dead {
                if popped { uncertain.append(contentsOf: trie.rankStart[k] ..< trie.rankEnd[k]) }
                k = Int(trie.subtreeEnd[k])
                continue
            }
            let here = trie.rankStart[k]
            for rank in here ..< here + trie.endingHere[k] { accepted.insert(trie.tokenOfRank[Int(rank)]) }
            if sets.stacks(of: next).isEmpty {
                // Only the pop is left: what follows depends on the caller.
                uncertain.append(contentsOf: here + trie.endingHere[k] ..< trie.rankEnd[k])
                k = Int(trie.subtreeEnd[k])
                continue
            }
            stateAt[d] = next
            poppedBefore[d] = popped
            k += 1
        }
        return NodeMask(accepted: accepted, uncertain: uncertain)
    }
}

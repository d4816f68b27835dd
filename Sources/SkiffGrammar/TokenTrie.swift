/// A model's vocabulary as a trie of the tokens' bytes, for computing which tokens a grammar allows.
///
/// Nodes are stored in depth-first order, so a node's subtree is the range of nodes up to `subtreeEnd`, and the
/// tokens sorted by their bytes (`ranks`) put every subtree's tokens in one range too. Tokens that never appear in
/// constrained text (control tokens, which render as no bytes) are left out. Build one per model and share it.
public struct TokenTrie: Sendable {
    /// Token ids are below this.
    public let vocabularySize: Int
    /// The node's byte (the last byte of its prefix).
    let byte: [UInt8]
    /// The node's depth: 1 for a first byte.
    let depth: [UInt16]
    /// The node after the node's subtree.
    let subtreeEnd: [Int32]
    /// The first rank in the node's subtree; the tokens ending at the node come first.
    let rankStart: [Int32]
    /// The rank after the node's subtree.
    let rankEnd: [Int32]
    /// How many tokens end exactly at the node.
    let endingHere: [Int32]
    /// Token ids by rank (sorted by their bytes).
    let tokenOfRank: [Int32]
    /// Each token's bytes, by id (empty for tokens left out).
    let tokenBytes: [[UInt8]]
    /// The greatest depth.
    let maxDepth: Int

    /// The trie of `tokens`, indexed by token id; nil (or empty) for a token constrained text never contains.
    public init(tokens: [[UInt8]?]) {
        vocabularySize = tokens.count
        tokenBytes = tokens.map { $0 ?? [] }
        let order = tokens.indices.filter { !(tokens[$0]?.isEmpty ?? true) }.sorted { a, b in
            tokens[a]!.lexicographicallyPrecedes(tokens[b]!) || (tokens[a]! == tokens[b]! && a < b)
        }
        var byte: [UInt8] = []
        var depth: [UInt16] = []
        var subtreeEnd: [Int32] = []
        var rankStart: [Int32] = []
        var rankEnd: [Int32] = []
        var endingHere: [Int32] = []
        var path: [Int] = [] // the open nodes, by depth - 1
        var previous: [UInt8] = []
        for (rank, id) in order.enumerated() {
            let bytes = tokens[id]!
            var common = 0
            while common < min(bytes.count, previous.count), bytes[common] == previous[common] { common += 1 }
            // Close the nodes past the common prefix.
            while path.count > common {
                let node = path.removeLast()
                subtreeEnd[node] = Int32(byte.count)
                rankEnd[node] = Int32(rank)
            }
            for d in common ..< bytes.count {
                path.append(byte.count)
                byte.append(bytes[d])
                depth.append(UInt16(d + 1))
                subtreeEnd.append(0)
                rankStart.append(Int32(rank))
                rankEnd.append(0)
                endingHere.append(0)
            }
            endingHere[path[bytes.count - 1]] += 1
            previous = bytes
        }
        for node in path {
            subtreeEnd[node] = Int32(byte.count)
            rankEnd[node] = Int32(order.count)
        }
        self.byte = byte
        self.depth = depth
        self.subtreeEnd = subtreeEnd
        self.rankStart = rankStart
        self.rankEnd = rankEnd
        self.endingHere = endingHere
        tokenOfRank = order.map(Int32.init)
        maxDepth = Int(depth.max() ?? 0)
    }

    /// The number of nodes.
    public var nodeCount: Int { byte.count }
}

/// Finds control and user-defined tokens written literally in text, before the model splits the rest.
///
/// Matching is leftmost-longest over the token texts' bytes (a trie walk per position), as Hugging Face's
/// added-token matching does. Control and unknown tokens count only when special tokens are parsed;
/// user-defined tokens (Gemma's `<b>`, `"\n\n"`, runs of spaces) always count, as in llama.cpp.
struct SpecialTokenMatcher: Sendable {
    /// One piece of the input: raw text to encode, or a token found whole.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    /// A trie node; children form a sibling list.
    private struct Node: Sendable {
        var byte: UInt8
        var firstChild: Int32 = -1
        var nextSibling: Int32 = -1
        var token: Int32 = -1
        var alwaysMatched = false
    }

    private var nodes = [Node(byte: 0)]
    /// Whether any token starts with each byte, to skip most positions without a walk.
    private var startsToken = [Bool](repeating: false, count: 256)

    /// Builds the matcher for `(text, id, alwaysMatched)` entries; empty texts are ignored.
    init(_ entries: [(text: String, id: Int32, alwaysMatched: Bool)]) {
        for entry in entries where !entry.text.isEmpty {
            var node = 0
            for byte in entry.text.utf8 {
                node = child(of: node, byte: byte) ?? addChild(to: node, byte: byte)
            }
            nodes[node].token = entry.id
            nodes[node].alwaysMatched = entry.alwaysMatched
            startsToken[Int(entry.text.utf8.first!)] = true
        }
    }

    /// Cuts `text` at the tokens it contains; `parseSpecial` false restricts matching to always-matched tokens.
    func split(_ text: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = []
        var textStart = 0
        var i = 0
        while i < text.count {
            guard startsToken[Int(text[i])], let (token, length) = longestMatch(in: text, at: i, parseSpecial: parseSpecial) else {
                i += 1
                continue
            }
            if textStart < i {
                fragments.append(.text(textStart ..< i))
            }
            fragments.append(.token(token))
            i += length
            textStart = i
        }
        if textStart < text.count {
            fragments.append(.text(textStart ..< text.count))
        }
        return fragments
    }

    private func longestMatch(in text: UnsafeBufferPointer<UInt8>, at start: Int, parseSpecial: Bool) -> (Int32, Int)? {
        var best: (Int32, Int)?
        var node = 0
        var i = start
        while i < text.count, let next = child(of: node, byte: text[i]) {
            node = next
            i += 1
            let entry = nodes[node]
            if entry.token >= 0 && (parseSpecial || entry.alwaysMatched) {
                best = (entry.token, i - start)
            }
        }
        return best
    }

    private func child(of node: Int, byte: UInt8) -> Int? {
        var candidate = nodes[node].firstChild
        while candidate >= 0 {
            if nodes[Int(candidate)].byte == byte {
                return Int(candidate)
            }
            candidate = nodes[Int(candidate)].nextSibling
        }
        return nil
    }

    private mutating func addChild(to node: Int, byte: UInt8) -> Int {
        var child = Node(byte: byte)
        child.nextSibling = nodes[node].firstChild
        nodes.append(child)
        nodes[node].firstChild = Int32(nodes.count - 1)
        return nodes.count - 1
    }
}

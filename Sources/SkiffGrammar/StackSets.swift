/// The sets of parse stacks a matcher can be in, each interned once, with their byte transitions computed on
/// first use: a lazily built deterministic automaton over the pushdown automaton's configurations.
///
/// A stack is interned as its top entry: a node and the entry below it (`bottom` at the bottom). A stack's top
/// node always has byte edges; when a stack can be popped past its bottom entry, the set's `reachesBottom` flag
/// says so. For a matcher the bottom is the end of the grammar (the text may end there); for the precomputed
/// masks it is an unknown caller (what follows is not known).
struct StackSets {
    /// The set no text can continue from.
    static let dead: Int32 = -1
    /// The parent of a bottom entry.
    static let bottom: Int32 = -1

    let automaton: ByteAutomaton
    private var entryNode: [Int32] = []
    private var entryParent: [Int32] = []
    private var entryIndex: [Int64: Int32] = [:]
    private var stacks: [[Int32]] = []
    private var bottomFlags: [Bool] = []
    private var setIndex: [[Int32]: Int32] = [:]
    private var transitions: [[Int32]] = []
    private static let unknown: Int32 = -2

    init(automaton: ByteAutomaton) {
        self.automaton = automaton
    }

    /// The number of sets interned (it grows with the text matched; a matcher drops its sets when it ends).
    var count: Int { stacks.count }

    /// The stacks of set `set`, as entries.
    func stacks(of set: Int32) -> [Int32] { stacks[Int(set)] }

    /// Whether set `set` can pop past its bottom.
    func reachesBottom(_ set: Int32) -> Bool { bottomFlags[Int(set)] }

    /// The top node of the stack whose top entry is `entry`.
    func node(of entry: Int32) -> Int32 { entryNode[Int(entry)] }

    /// The set of stacks reachable without consuming from a stack of just `node`.
    mutating func start(at node: Int32) -> Int32 {
        var found: [Int32] = []
        var reaches = false
        var visited: Set<Int64> = []
        close(node: node, parent: StackSets.bottom, into: &found, reachesBottom: &reaches, visited: &visited)
        return intern(found, reachesBottom: reaches)
    }

    /// The set holding only the stack whose top entry is `entry` (already closed), not popping past its bottom.
    mutating func set(ofEntry entry: Int32) -> Int32 {
        intern([entry], reachesBottom: false)
    }

    /// The set after `byte`, or `dead`.
    mutating func advance(_ set: Int32, _ byte: UInt8) -> Int32 {
        let known = transitions[Int(set)][Int(byte)]
        if known != StackSets.unknown { return known }
        var found: [Int32] = []
        var reaches = false
        var visited: Set<Int64> = []
        for entry in stacks[Int(set)] {
            let node = Int(entryNode[Int(entry)])
            let parent = entryParent[Int(entry)]
            for edge in Int(automaton.byteEdgeStart[node]) ..< Int(automaton.byteEdgeStart[node + 1]) {
                guard automaton.byteLow[edge] <= byte else { break }
                guard byte <= automaton.byteHigh[edge] else { continue }
                close(node: automaton.byteTarget[edge], parent: parent, into: &found, reachesBottom: &reaches, visited: &visited)
            }
        }
        let next = found.isEmpty && !reaches ? StackSets.dead : intern(found, reachesBottom: reaches)
        transitions[Int(set)][Int(byte)] = next
        return next
    }

    /// The set after `bytes`, or `dead`.
    mutating func advance(_ set: Int32, _ bytes: some Sequence<UInt8>) -> Int32 {
        var state = set
        for byte in bytes {
            state = advance(state, byte)
            if state == StackSets.dead { break }
        }
        return state
    }

    /// Adds the stacks reachable without consuming from `node` over `parent`: calls push the callee's start over
    /// the return node; a final node pops to its parent (or sets `reachesBottom` at the bottom).
    private mutating func close(node: Int32, parent: Int32, into found: inout [Int32], reachesBottom: inout Bool, visited: inout Set<Int64>) {
        guard visited.insert(Int64(node) << 32 | Int64(UInt32(bitPattern: parent))).inserted else { return }
        let n = Int(node)
        if automaton.consumes(node) { found.append(entry(node: node, parent: parent)) }
        for call in Int(automaton.callEdgeStart[n]) ..< Int(automaton.callEdgeStart[n + 1]) {
            let returnEntry = entry(node: automaton.callReturn[call], parent: parent)
            close(node: automaton.ruleStart[Int(automaton.callRule[call])], parent: returnEntry, into: &found,
                  reachesBottom: &reachesBottom, visited: &visited)
        }
        if automaton.isFinal[n] {
            if parent == StackSets.bottom {
                reachesBottom = true
            } else {
                close(node: entryNode[Int(parent)], parent: entryParent[Int(parent)], into: &found, reachesBottom: &reachesBottom,
                      visited: &visited)
            }
        }
    }

    private mutating func entry(node: Int32, parent: Int32) -> Int32 {
        let key = Int64(node) << 32 | Int64(UInt32(bitPattern: parent))
        if let known = entryIndex[key] { return known }
        let index = Int32(entryNode.count)
        entryNode.append(node)
        entryParent.append(parent)
        entryIndex[key] = index
        return index
    }

    private mutating func intern(_ found: [Int32], reachesBottom: Bool) -> Int32 {
        var key = found
        key.sort()
        var unique: [Int32] = []
        for entry in key where unique.last != entry { unique.append(entry) }
        // The flag is part of the set's identity: keep sets with and without it apart.
        let lookup = unique + [reachesBottom ? -1 : -2]
        if let known = setIndex[lookup] { return known }
        let index = Int32(stacks.count)
        stacks.append(unique)
        bottomFlags.append(reachesBottom)
        transitions.append([Int32](repeating: StackSets.unknown, count: 256))
        setIndex[lookup] = index
        return index
    }
}

/// A grammar as a byte-level pushdown automaton: each rule an automaton over UTF-8 bytes whose nodes may also
/// call another rule and continue at a return node when it ends.
///
/// Nodes are numbered across all rules. A node has byte-range edges, call edges and a flag saying its rule may
/// end there; there are no empty moves (they are folded in while compiling). Several edges may match one byte:
/// the matcher follows all of them, as a set of stacks.
public struct ByteAutomaton: Sendable {
    /// The most nodes a grammar may compile to.
    public static let maxNodes = 200_000
    /// The largest repetition count (`{m,n}`, a schema's maxLength or maxItems): a count is compiled by copying.
    public static let maxRepetition = 10_000

    /// The start node of each rule.
    let ruleStart: [Int32]
    /// The rule each node belongs to.
    let nodeRule: [Int32]
    /// Byte edges of node `n`: `byteEdgeStart[n] ..< byteEdgeStart[n + 1]` into `byteLow`, `byteHigh`, `byteTarget`.
    let byteEdgeStart: [Int32]
    let byteLow: [UInt8]
    let byteHigh: [UInt8]
    let byteTarget: [Int32]
    /// Call edges of node `n`: `callEdgeStart[n] ..< callEdgeStart[n + 1]` into `callRule`, `callReturn`.
    let callEdgeStart: [Int32]
    let callRule: [Int32]
    let callReturn: [Int32]
    /// Whether the node's rule may end at the node.
    let isFinal: [Bool]
    /// The root rule.
    let root: Int32

    /// The number of nodes.
    public var nodeCount: Int { nodeRule.count }

    /// Compiles `grammar`.
    /// - Throws: `GrammarError` `.unusableGrammar` when it is left-recursive or compiles to more than `maxNodes` nodes.
    public init(_ grammar: Grammar) throws(GrammarError) {
        try grammar.checkUsable()
        var builder = Builder()
        var starts: [Int32] = []
        var ends: [Int32] = []
        for rule in grammar.rules {
            let start = builder.newState()
            let end = try builder.build(rule.body, from: start)
            starts.append(start)
            ends.append(end)
        }
        self = try builder.finish(starts: starts, ends: ends, root: Int32(grammar.root))
    }

    init(ruleStart: [Int32], nodeRule: [Int32], byteEdgeStart: [Int32], byteLow: [UInt8], byteHigh: [UInt8], byteTarget: [Int32],
         callEdgeStart: [Int32], callRule: [Int32], callReturn: [Int32], isFinal: [Bool], root: Int32) {
        self.ruleStart = ruleStart
        self.nodeRule = nodeRule
        self.byteEdgeStart = byteEdgeStart
        self.byteLow = byteLow
        self.byteHigh = byteHigh
        self.byteTarget = byteTarget
        self.callEdgeStart = callEdgeStart
        self.callRule = callRule
        self.callReturn = callReturn
        self.isFinal = isFinal
        self.root = root
    }

    /// Whether node `n` has byte edges (the matcher keeps only such nodes at the top of its stacks).
    func consumes(_ n: Int32) -> Bool { byteEdgeStart[Int(n)] < byteEdgeStart[Int(n) + 1] }
}

/// Thompson's construction with empty moves, then the empty moves folded into the edges they lead to.
private struct Builder {
    var empty: [[Int32]] = []
    var bytes: [[(low: UInt8, high: UInt8, target: Int32)]] = []
    var calls: [[(rule: Int32, target: Int32)]] = []

    mutating func newState() -> Int32 {
        empty.append([])
        bytes.append([])
        calls.append([])
        return Int32(empty.count - 1)
    }

    mutating func checkedState() throws(GrammarError) -> Int32 {
        guard empty.count < ByteAutomaton.maxNodes * 4 else {
            throw GrammarError(.unusableGrammar, "the grammar is too large to compile (over \(ByteAutomaton.maxNodes) automaton nodes); "
                + "lower its repetition counts (maxItems, maxLength, {m,n}) or split it")
        }
        return newState()
    }

    /// Builds `expression` from `start`; returns its end state.
    mutating func build(_ expression: GrammarExpression, from start: Int32) throws(GrammarError) -> Int32 {
        switch expression {
        case .literal(let text):
            var state = start
            for byte in text.utf8 {
                let next = try checkedState()
                bytes[Int(state)].append((byte, byte, next))
                state = next
            }
            return state
        case .characters(let set):
            let end = try checkedState()
            for range in set.ranges {
                for sequence in UTF8Sequences.of(range) {
                    var state = start
                    for (i, byteRange) in sequence.enumerated() {
                        let next = i == sequence.count - 1 ? end : try checkedState()
                        bytes[Int(state)].append((byteRange.lowerBound, byteRange.upperBound, next))
                        state = next
                    }
                }
            }
            return end
        case .rule(let index):
            let end = try checkedState()
            calls[Int(start)].append((Int32(index), end))
            return end
        case .sequence(let items):
            var state = start
            for item in items { state = try build(item, from: state) }
            return state
        case .choice(let items):
            let end = try checkedState()
            for item in items {
                let branch = try checkedState()
                empty[Int(start)].append(branch)
                empty[Int(try build(item, from: branch))].append(end)
            }
            return end
        case .repetition(let item, let min, let max):
            guard Swift.max(min, max ?? 0) <= ByteAutomaton.maxRepetition else {
                throw GrammarError(.unusableGrammar, "a repetition count of \(Swift.max(min, max ?? 0)) is above the \(ByteAutomaton.maxRepetition) "
                    + "this server compiles (a {m,n} count, a schema's minLength, maxLength, minItems or maxItems); lower it")
            }
            var state = start
            for _ in 0 ..< min { state = try build(item, from: state) }
            let end = try checkedState()
            if let max {
                for _ in min ..< max {
                    empty[Int(state)].append(end)
                    state = try build(item, from: state)
                }
                empty[Int(state)].append(end)
            } else {
                let loop = try checkedState()
                empty[Int(state)].append(loop)
                empty[Int(try build(item, from: loop))].append(loop)
                empty[Int(loop)].append(end)
            }
            return end
        }
    }

    /// Folds the empty moves and keeps the states an edge or a rule start leads to.
    func finish(starts: [Int32], ends: [Int32], root: Int32) throws(GrammarError) -> ByteAutomaton {
        let stateCount = empty.count
        var ruleOfState = [Int32](repeating: -1, count: stateCount)
        // States are built rule by rule, so a rule owns the states from its start to the next rule's start.
        for (rule, start) in starts.enumerated() {
            let stop = rule + 1 < starts.count ? Int(starts[rule + 1]) : stateCount
            for state in Int(start) ..< stop { ruleOfState[state] = Int32(rule) }
        }
        func closure(_ state: Int32) -> [Int32] {
            var seen: Set<Int32> = [state]
            var order = [state]
            var i = 0
            while i < order.count {
                for next in empty[Int(order[i])] where seen.insert(next).inserted { order.append(next) }
                i += 1
            }
            return order
        }
        // Keep rule starts and edge targets, numbered in the order found.
        var number = [Int32](repeating: -1, count: stateCount)
        var kept: [Int32] = []
        func keep(_ state: Int32) {
            guard number[Int(state)] < 0 else { return }
            number[Int(state)] = Int32(kept.count)
            kept.append(state)
        }
        for start in starts { keep(start) }
        var nodeRule: [Int32] = []
        var byteEdgeStart: [Int32] = [0]
        var byteLow: [UInt8] = []
        var byteHigh: [UInt8] = []
        var byteTarget: [Int32] = []
        var callEdgeStart: [Int32] = [0]
        var callRule: [Int32] = []
        var callReturn: [Int32] = []
        var isFinal: [Bool] = []
        var i = 0
        while i < kept.count {
            let state = kept[i]
            i += 1
            guard kept.count <= ByteAutomaton.maxNodes else {
                throw GrammarError(.unusableGrammar, "the grammar is too large to compile (over \(ByteAutomaton.maxNodes) automaton nodes); "
                    + "lower its repetition counts (maxItems, maxLength, {m,n}) or split it")
            }
            let rule = ruleOfState[Int(state)]
            let reach = closure(state)
            var edges: [(low: UInt8, high: UInt8, target: Int32)] = []
            var ruleCalls: [(rule: Int32, target: Int32)] = []
            for s in reach {
                for edge in bytes[Int(s)] {
                    keep(edge.target)
                    edges.append((edge.low, edge.high, number[Int(edge.target)]))
                }
                for call in calls[Int(s)] {
                    keep(call.target)
                    ruleCalls.append((call.rule, number[Int(call.target)]))
                }
            }
            edges.sort { ($0.target, $0.low) < ($1.target, $1.low) }
            var merged: [(low: UInt8, high: UInt8, target: Int32)] = []
            for edge in edges {
                if let last = merged.last, last.target == edge.target, Int(edge.low) <= Int(last.high) + 1 {
                    merged[merged.count - 1].high = max(last.high, edge.high)
                } else {
                    merged.append(edge)
                }
            }
            merged.sort { ($0.low, $0.target) < ($1.low, $1.target) }
            var uniqueCalls: [(rule: Int32, target: Int32)] = []
            for call in ruleCalls where !uniqueCalls.contains(where: { $0 == call }) { uniqueCalls.append(call) }
            nodeRule.append(rule)
            for edge in merged {
                byteLow.append(edge.low)
                byteHigh.append(edge.high)
                byteTarget.append(edge.target)
            }
            byteEdgeStart.append(Int32(byteLow.count))
            for call in uniqueCalls {
                callRule.append(call.rule)
                callReturn.append(call.target)
            }
            callEdgeStart.append(Int32(callRule.count))
            isFinal.append(reach.contains(ends[Int(rule)]))
        }
        return ByteAutomaton(ruleStart: starts.map { number[Int($0)] }, nodeRule: nodeRule, byteEdgeStart: byteEdgeStart,
                             byteLow: byteLow, byteHigh: byteHigh, byteTarget: byteTarget, callEdgeStart: callEdgeStart,
                             callRule: callRule, callReturn: callReturn, isFinal: isFinal, root: root)
    }
}

extension Grammar {
    /// Refuses grammars the automaton cannot run: a rule that can reach itself before matching any text (left
    /// recursion, directly or through rules that may match nothing), and a reference to a rule that does not exist.
    func checkUsable() throws(GrammarError) {
        for rule in rules {
            for reference in rule.body.references where !rules.indices.contains(reference) {
                throw GrammarError(.invalidGrammar, "the rule '\(rule.name)' refers to rule #\(reference), which does not exist")
            }
        }
        guard productiveRules()[root] else {
            throw GrammarError(.unusableGrammar, "the grammar matches no text at all (a JSON schema of false, an empty enum, a "
                + "character class that excludes every character...), so no answer could satisfy it")
        }
        let nullable = nullableRules()
        let leading = rules.map { $0.body.leadingReferences(nullable: nullable) }
        // A depth-first search for a cycle in "may call first" edges.
        var state = [UInt8](repeating: 0, count: rules.count) // 0 unvisited, 1 on the path, 2 done
        func visit(_ rule: Int, path: [Int]) throws(GrammarError) {
            state[rule] = 1
            for next in leading[rule].sorted() {
                if state[next] == 1 {
                    let cycle = (path + [rule]).drop { $0 != next }.map { rules[$0].name } + [rules[next].name]
                    throw GrammarError(.unusableGrammar, "the grammar is left-recursive: \(cycle.joined(separator: " → ")) can repeat "
                        + "without matching any text; rewrite the rule with repetition, e.g. `list ::= item (\",\" item)*` "
                        + "instead of `list ::= list \",\" item | item`")
                }
                if state[next] == 0 { try visit(next, path: path + [rule]) }
            }
            state[rule] = 2
        }
        for rule in rules.indices where state[rule] == 0 { try visit(rule, path: []) }
    }

    /// Which rules can match some text.
    func productiveRules() -> [Bool] {
        var productive = [Bool](repeating: false, count: rules.count)
        var changed = true
        while changed {
            changed = false
            for (i, rule) in rules.enumerated() where !productive[i] && rule.body.isProductive(productive) {
                productive[i] = true
                changed = true
            }
        }
        return productive
    }

    /// Which rules can match the empty text.
    func nullableRules() -> [Bool] {
        var nullable = [Bool](repeating: false, count: rules.count)
        var changed = true
        while changed {
            changed = false
            for (i, rule) in rules.enumerated() where !nullable[i] && rule.body.isNullable(nullable) {
                nullable[i] = true
                changed = true
            }
        }
        return nullable
    }
}

extension GrammarExpression {
    /// Every rule referred to.
    var references: Set<Int> {
        switch self {
        case .literal, .characters: []
        case .rule(let index): [index]
        case .sequence(let items), .choice(let items): items.reduce(into: []) { $0.formUnion($1.references) }
        case .repetition(let item, _, _): item.references
        }
    }

    /// Whether the expression can match some text, given which rules can.
    func isProductive(_ productive: [Bool]) -> Bool {
        switch self {
        case .literal: true
        case .characters(let set): !set.isEmpty
        case .rule(let index): productive[index]
        case .sequence(let items): items.allSatisfy { $0.isProductive(productive) }
        case .choice(let items): items.contains { $0.isProductive(productive) }
        case .repetition(let item, let min, _): min == 0 || item.isProductive(productive)
        }
    }

    /// Whether the expression can match the empty text, given which rules can.
    func isNullable(_ nullable: [Bool]) -> Bool {
        switch self {
        case .literal(let text): text.isEmpty
        case .characters: false
        case .rule(let index): nullable[index]
        case .sequence(let items): items.allSatisfy { $0.isNullable(nullable) }
        case .choice(let items): items.contains { $0.isNullable(nullable) }
        case .repetition(let item, let min, _): min == 0 || item.isNullable(nullable)
        }
    }

    /// The rules that may be entered before any text is matched.
    func leadingReferences(nullable: [Bool]) -> Set<Int> {
        switch self {
        case .literal, .characters: return []
        case .rule(let index): return [index]
        case .choice(let items): return items.reduce(into: []) { $0.formUnion($1.leadingReferences(nullable: nullable)) }
        case .repetition(let item, _, let max): return max == 0 ? [] : item.leadingReferences(nullable: nullable)
        case .sequence(let items):
            var result: Set<Int> = []
            for item in items {
                result.formUnion(item.leadingReferences(nullable: nullable))
                if !item.isNullable(nullable) { break }
            }
            return result
        }
    }
}

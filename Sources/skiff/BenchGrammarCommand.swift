import ArgumentParser
import Foundation
import SkiffGGUF
import SkiffGrammar
import SkiffJSON
import SkiffModelStore
import SkiffTokenizer

/// `skiff bench-grammar`: what an output constraint costs per generated token, for a model's vocabulary.
struct BenchGrammarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-grammar",
        abstract: "Measure the cost of structured output: token masks per generated token, for a model's vocabulary.",
        discussion: """
            Reads only the model file's vocabulary. Builds its token trie, compiles the JSON schema, then replays \
            an answer that fits it token by token, timing the mask of allowed tokens before each token: once on \
            a fresh compile (node masks computed on first use) and --repetitions times more with them cached, \
            as for a schema sent again. Without --schema, a nested object schema and an answer of its own are used.
            """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("A model file, a model in the model directory, or a catalog name.", valueName: "model"))
    var model: String = ModelCatalog.builtIn.defaultEntry.name

    @Option(help: ArgumentHelp("The model directory (default: $SKIFF_MODEL_DIR, else ~/.cache/skiff/models).", valueName: "path"))
    var modelDir: String?

    @Option(help: "A JSON schema file.")
    var schema: String?

    @Option(help: "A JSON answer that fits the schema, replayed as the generated text (required with --schema).")
    var answer: String?

    @Option(help: "Replays with the node masks cached.")
    var repetitions: Int = 20

    @Flag(help: "Print one JSON object.")
    var json = false

    static let sampleSchema = #"""
        {"type": "object", "properties": {
          "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
          "email": {"type": "string", "format": "email"},
          "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"},
                      "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}, "required": ["street", "city", "zip"]},
          "tags": {"type": "array", "items": {"enum": ["friend", "colleague", "family"]}, "maxItems": 3},
          "notes": {"type": "string"}},
         "required": ["name", "age", "email", "address", "tags", "notes"], "additionalProperties": false}
        """#
    static let sampleAnswer = #"""
        {"name": "Ada Lovelace", "age": 36, "email": "ada@example.org",
          "address": {"street": "12 St James's Square", "city": "London", "zip": "10001"},
          "tags": ["friend", "colleague"],
          "notes": "Wrote the first published program, for Babbage's Analytical Engine, in 1843. She saw that the engine could act on symbols as well as numbers."}
        """#

    func run() throws {
        guard (schema == nil) == (answer == nil) else { throw ValidationError("--schema and --answer go together") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        let path = try ModelStore(explicitPath: modelDir).resolve(model).path
        let tokenizer = try Tokenizer(metadata: GGUFFile(path: path).metadata)
        let schemaText = try schema.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? Self.sampleSchema
        let answerText = try answer.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? Self.sampleAnswer
        let grammar = try Grammar(jsonSchema: try JSONValue(parsing: schemaText))
        let tokens = tokenizer.encode(answerText.trimmingCharacters(in: .whitespacesAndNewlines), addSpecial: false, parseSpecial: false)

        let clock = ContinuousClock()
        var trie: TokenTrie?
        let trieTime = clock.measure { trie = TokenTrie(tokens: (0 ..< Int32(tokenizer.vocabularySize)).map { tokenizer.generatedBytes($0) }) }
        var compiled: CompiledGrammar?
        let compileTime = try clock.measure { compiled = try CompiledGrammar(grammar, trie: trie!) }

        /// Replays the answer; returns each mask's time in microseconds.
        func replay(_ grammar: CompiledGrammar) throws -> [Double] {
            var matcher = GrammarMatcher(grammar)
            var times: [Double] = []
            for (i, token) in tokens.enumerated() {
                var mask: TokenMask?
                let time = clock.measure { mask = matcher.allowedTokens() }
                times.append(Double(time.components.attoseconds) / 1e12 + Double(time.components.seconds) * 1e6)
                guard mask!.contains(token), matcher.accept(token) else {
                    throw ValidationError("the answer leaves the schema at token \(i) (\(tokenizer.decode([token])) after "
                        + "\(tokenizer.decode(Array(tokens.prefix(i))).suffix(40))")
                }
            }
            guard matcher.canEnd else { throw ValidationError("the answer is not complete under the schema") }
            return times
        }
        let cold = try replay(compiled!)
        var warm: [Double] = []
        for _ in 0 ..< repetitions { warm += try replay(compiled!) }
        warm.sort()
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }
        let milliseconds = { (d: Duration) in Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15 }
        let p50 = warm[warm.count / 2]
        let p99 = warm[min(warm.count - 1, warm.count * 99 / 100)]
        if json {
            let object: [String: Any] = [
                "model": URL(fileURLWithPath: path).lastPathComponent, "vocabulary": tokenizer.vocabularySize, "trie_nodes": trie!.nodeCount,
                "trie_build_ms": milliseconds(trieTime), "compile_ms": milliseconds(compileTime), "automaton_nodes": compiled!.automaton.nodeCount,
                "answer_tokens": tokens.count, "node_masks": compiled!.computedNodeMasks,
                "first_use_mask_us_mean": mean(cold), "first_use_mask_us_max": cold.max() ?? 0,
                "cached_mask_us_mean": mean(warm), "cached_mask_us_p50": p50, "cached_mask_us_p99": p99,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("vocabulary \(tokenizer.vocabularySize) tokens, trie \(trie!.nodeCount) nodes built in \(String(format: "%.1f", milliseconds(trieTime))) ms")
            print("schema compiled to \(compiled!.automaton.nodeCount) automaton nodes in \(String(format: "%.2f", milliseconds(compileTime))) ms")
            print("answer: \(tokens.count) tokens; \(compiled!.computedNodeMasks) node masks computed on first use")
            print(String(format: "mask per token, first use: mean %.1f µs, max %.1f µs", mean(cold), cold.max() ?? 0))
            print(String(format: "mask per token, cached (%d replays): mean %.1f µs, p50 %.1f µs, p99 %.1f µs", repetitions, mean(warm), p50, p99))
        }
    }
}

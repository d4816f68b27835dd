@testable import SkiffEngine
import SkiffModels
import Testing

/// One forward pass over tokens of several sequences gives each the logits it gets alone.
@Suite(.serialized) struct BatchedForwardTests {
    @Test func sequencesInOneBatchDoNotInterfere() throws {
        let model = try TestModel.load()
        let runner = try model.network.makeRunner(RunnerOptions(threads: 2, maxBatchTokens: 64, cacheBlocks: 16, blockSize: 16, stateSlots: 1))
        let a = model.tokenizer.encode("Once upon a time there was a small boat", addSpecial: true)
        let b = model.tokenizer.encode("def add(x, y):\n    return", addSpecial: true)
        let tableA: [Int32] = [3, 7, 1]
        let tableB: [Int32] = [0, 12, 5]

        func alone(_ tokens: [Int32], _ table: [Int32]) throws -> [Float] {
            var batch = ForwardBatch()
            let s = batch.addSequence(blockTables: [table], stateSlot: -1)
            for (i, t) in tokens.enumerated() { batch.add(token: t, position: Int32(i), sequence: s, wantsLogits: i == tokens.count - 1) }
            return try runner.forward(batch)
        }
        let expectedA = try alone(a, tableA)
        let expectedB = try alone(b, tableB)

        // Interleave both prompts in one batch, B's first so the logit rows come out in request order.
        var batch = ForwardBatch()
        let sa = batch.addSequence(blockTables: [tableA], stateSlot: -1)
        let sb = batch.addSequence(blockTables: [tableB], stateSlot: -1)
        for i in 0 ..< max(a.count, b.count) {
            if i < b.count { batch.add(token: b[i], position: Int32(i), sequence: sb, wantsLogits: i == b.count - 1) }
            if i < a.count { batch.add(token: a[i], position: Int32(i), sequence: sa, wantsLogits: i == a.count - 1) }
        }
        let both = try runner.forward(batch)
        let v = model.vocabularySize
        let rows = [Array(both[0 ..< v]), Array(both[v ..< 2 * v])]
        let firstIsB = b.count <= a.count
        let gotA = firstIsB ? rows[1] : rows[0]
        let gotB = firstIsB ? rows[0] : rows[1]
        #expect(zip(gotA, expectedA).map { abs($0 - $1) }.max()! < 1e-3)
        #expect(zip(gotB, expectedB).map { abs($0 - $1) }.max()! < 1e-3)
    }

    @Test func rejectsInvalidBatches() throws {
        let model = try TestModel.load()
        let runner = try model.network.makeRunner(RunnerOptions(threads: 1, maxBatchTokens: 4, cacheBlocks: 2, blockSize: 16, stateSlots: 1))
        func check(_ build: (inout ForwardBatch) -> Void) {
            var batch = ForwardBatch()
            build(&batch)
            #expect { try runner.forward(batch) } throws: { ($0 as? ModelError)?.code == .invalidBatch }
        }
        check { _ in }
        check { b in let s = b.addSequence(blockTables: [[0]], stateSlot: -1); b.add(token: 99_999_999, position: 0, sequence: s, wantsLogits: true) }
        check { b in let s = b.addSequence(blockTables: [[0]], stateSlot: -1); b.add(token: 1, position: 16, sequence: s, wantsLogits: true) }
        check { b in let s = b.addSequence(blockTables: [[5]], stateSlot: -1); b.add(token: 1, position: 0, sequence: s, wantsLogits: true) }
        check { b in b.add(token: 1, position: 0, sequence: 3, wantsLogits: true) }
        check { b in let s = b.addSequence(blockTables: [[0]], stateSlot: -1); for i in 0 ..< 5 { b.add(token: 1, position: Int32(i), sequence: s, wantsLogits: false) } }
    }
}

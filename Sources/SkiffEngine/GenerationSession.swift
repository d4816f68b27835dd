import SkiffModelFile
import SkiffModels
import SkiffScheduling

/// One sequence's conversation with a model: it keeps the tokens seen so far in the KV cache, appends
/// prompts in batches, and generates tokens one at a time.
///
/// The session owns a runner (threads, scratch, cache) and is driven by one thread at a time.
public final class GenerationSession {
    /// The model.
    public let model: LoadedModel
    /// The most tokens the session can hold.
    public let contextLength: Int
    /// The tokens in the cache, in order.
    public private(set) var tokens: [Int32] = []

    let runner: any ModelRunner
    private var pool: KVBlockPool
    private var blocks: SequenceBlocks

    /// Tokens per KV block.
    public static let blockSize = 16

    /// Creates a session over `model` with room for `contextLength` tokens (capped to the model's
    /// training context), on `device` (`threads` compute threads on the CPU), with prompt batches of `batchSize` tokens.
    public init(model: LoadedModel, contextLength: Int? = nil, device: ComputeDevice = .cpu, threads: Int, batchSize: Int = 512) throws(EngineError) {
        self.model = model
        let trained = model.contextLength
        let length = min(max(contextLength ?? trained, 1), trained)
        self.contextLength = length
        let layout = model.cacheLayout
        let blockCount = layout.blocksPerSequence(tokens: length, blockSize: Self.blockSize, stepTokens: batchSize)
        do {
            var options = RunnerOptions(threads: threads, maxBatchTokens: batchSize, cacheBlocks: blockCount, blockSize: Self.blockSize,
                                        stateSlots: 1)
            options.device = device
            runner = try model.network.makeRunner(options)
        } catch {
            throw EngineError(error)
        }
        pool = KVBlockPool(capacity: blockCount, blockSize: Self.blockSize, prefixCaching: false, groups: layout.blockGroups)
        blocks = SequenceBlocks(in: pool)
    }

    /// Forgets every token.
    public func reset() {
        truncate(to: 0)
    }

    /// Keeps the first `count` tokens at most (for reusing a shared prefix): all of them, or none when a
    /// sliding window has let go of blocks the next token would attend to, or when a recurrent layer's state
    /// would have to go back. `tokens` says how many are kept.
    public func truncate(to count: Int) {
        let wanted = min(count, tokens.count)
        let keep = blocks.truncate(to: wanted < tokens.count && model.cacheLayout.hasRecurrentLayers ? 0 : wanted, in: &pool)
        tokens.removeLast(tokens.count - keep)
    }

    /// Appends `newTokens` and runs them through the model. Returns the next-token logits after the last
    /// one, or after every one of them when `allLogits` is set (`newTokens.count × vocabulary` values).
    public func append(_ newTokens: [Int32], allLogits: Bool = false) throws(EngineError) -> [Float] {
        guard !newTokens.isEmpty else { return [] }
        guard tokens.count + newTokens.count <= contextLength else {
            throw EngineError(.contextOverflow, "\(tokens.count + newTokens.count) tokens do not fit the context of \(contextLength) tokens")
        }
        var logits: [Float] = []
        var start = 0
        while start < newTokens.count {
            let count = min(runner.maxBatchTokens, newTokens.count - start)
            guard blocks.reserve(from: tokens.count, to: tokens.count + count, in: &pool) else {
                throw EngineError(.contextOverflow, "the KV cache is full")
            }
            var batch = ForwardBatch()
            let sequence = batch.addSequence(blockTables: blocks.tables, stateSlot: 0)
            for i in 0 ..< count {
                let isLast = start + i == newTokens.count - 1
                batch.add(token: newTokens[start + i], position: Int32(tokens.count + i), sequence: sequence,
                          wantsLogits: allLogits || isLast)
            }
            do {
                let part = try runner.forward(batch)
                if allLogits { logits.append(contentsOf: part) } else if !part.isEmpty { logits = part }
            } catch {
                throw EngineError(error)
            }
            tokens.append(contentsOf: newTokens[start ..< start + count])
            blocks.didCompute(tokens.count, of: tokens[...], in: &pool)
            start += count
        }
        return logits
    }

    /// Generates up to `maxTokens` tokens after the current ones, starting from `logits` (the result of the
    /// last `append`). Calls `onToken` with each token; stops early at an end-of-generation token (not
    /// passed on) or when `onToken` returns false. Returns the generated tokens and why it stopped.
    public func generate(from logits: [Float], maxTokens: Int, sampler: inout Sampler,
                         onToken: (Int32) -> Bool) throws(EngineError) -> (tokens: [Int32], finish: FinishReason) {
        var logits = logits
        var generated: [Int32] = []
        var counts: [Int32: Int] = [:]
        while generated.count < maxTokens {
            let token = try logits.withUnsafeBufferPointer { buffer in
                Result { () throws(EngineError) in try sampler.sample(logits: buffer, counts: counts) }
            }.get()
            if model.tokenizer.isEndOfGeneration(token) { return (generated, .stop) }
            generated.append(token)
            counts[token, default: 0] += 1
            guard onToken(token) else { return (generated, .stop) }
            guard generated.count < maxTokens else { break }
            guard tokens.count < contextLength else { return (generated, .length) }
            logits = try append([token])
        }
        return (generated, .length)
    }
}

/// Why generation ended.
public enum FinishReason: String, Sendable {
    /// An end-of-generation token or a stop condition.
    case stop
    /// The token limit or the context window.
    case length
}

import Foundation
import SkiffHyperparameters

/// How many KV cache blocks `skiff serve` reserves on the machine it runs on, and the arithmetic behind it,
/// for its start-up log.
///
/// The arithmetic is the layout's (`CacheLayout.blockGroups`), as the engine applies it: keys and values
/// of the engine's element size; a block id holds one block group's layers; a sequence holds a block per `blockSize`
/// tokens in each full-attention group, and in each sliding-window group only the blocks its window and
/// one step's tokens span. Without an explicit size, the cache holds `maxRunning` sequences at full
/// context, capped by a share of the memory the kernel reports available. A model with recurrent layers
/// also keeps a state slot per running sequence and per prompt-state snapshot, taken from that share
/// first; a model without attention has blocks of no bytes, which only count tokens (those of the running
/// sequences and of the prefixes the snapshots hold). It does not allocate anything.
public struct KVCachePlan: Sendable, Equatable {
    /// Where the size came from.
    public enum Basis: String, Sendable {
        /// `--kv-cache-bytes`.
        case explicitBytes = "explicit bytes"
        /// Enough for every running sequence at full context.
        case fullConcurrency = "max-running sequences at full context"
        /// The share of available memory, smaller than full concurrency would need.
        case memoryShare = "share of available memory"
        /// Blocks of no bytes (a model without attention): enough for every running sequence at full context.
        case tokenCount = "token blocks of max-running sequences at full context"
        /// All of a GPU's budget: `--gpu-memory-utilization` of its memory less the weights and the runtime's
        /// scratch, as vLLM sizes its cache.
        case deviceBudget = "gpu-memory-utilization of the device"
    }

    /// Bytes of keys and values per token, all layers (what a token costs while inside every window).
    public let bytesPerToken: Int
    /// Bytes of one block id (one block group's layers).
    public let bytesPerBlock: Int
    /// Bytes of one key or value element.
    public let bytesPerElement: Int
    /// Tokens per block.
    public let blockSize: Int
    /// Blocks reserved.
    public let blocks: Int
    /// Tokens per sequence.
    public let contextLength: Int
    /// Blocks one full-context sequence holds, over every block group.
    public let blocksPerSequence: Int
    /// Block groups of the layout.
    public let blockGroups: Int
    /// Of those, the groups of sliding-window layers.
    public let slidingBlockGroups: Int
    /// Where the size came from.
    public let basis: Basis
    /// Bytes of one sequence's recurrent state (0 without recurrent layers).
    public let stateBytesPerSequence: Int
    /// States held at once: `maxRunning` sequences' and the snapshots (0 without recurrent layers).
    public let stateSlots: Int

    /// Bytes reserved for keys and values.
    public var bytes: Int { blocks * bytesPerBlock }
    /// Bytes reserved for recurrent state.
    public var stateBytes: Int { stateSlots * stateBytesPerSequence }
    /// Sequences that fit at full context at once.
    public var fullContextSequences: Int { blocks / blocksPerSequence }

    /// Plans the cache of Skiff's engine for a model whose cache is laid out as `layout` (the loaded model's
    /// own, or a `ModelShape`'s read from the file), with steps of at most `stepTokens` tokens, keys and values
    /// of `bytesPerElement` bytes (the engine's `KVCacheStorage.bytesPerElement`) and recurrent state of
    /// `stateBytesPerElement` (`RecurrentStateStorage.bytesPerElement`), `stateSnapshots` prompt states kept
    /// besides the running sequences'. On a GPU, `deviceBudgetBytes` (what its memory leaves for the cache) is
    /// all given to blocks. Throws when it would not hold one full-context sequence, or the states do not fit the
    /// memory share.
    public init(layout: CacheLayout, bytesPerElement: Int, stateBytesPerElement: Int, contextLength: Int, maxRunning: Int,
                stateSnapshots: Int = 0, stepTokens: Int, explicitBytes: Int?, memoryFraction: Double, availableMemoryBytes: Int?,
                deviceBudgetBytes: Int? = nil, blockSize: Int = 16) throws(SizingError) {
        bytesPerToken = bytesPerElement * layout.kvElementsPerToken
        self.bytesPerElement = bytesPerElement
        let bytesPerBlock = bytesPerElement * layout.kvElementsPerBlockToken * blockSize
        self.bytesPerBlock = bytesPerBlock
        self.blockSize = blockSize
        self.contextLength = contextLength
        let groups = layout.blockGroups
        blockGroups = groups.count
        slidingBlockGroups = groups.filter { $0.window != nil }.count
        blocksPerSequence = layout.blocksPerSequence(tokens: contextLength, blockSize: blockSize, stepTokens: stepTokens)
        let stateElements = layout.stateElementsPerSequence
        stateBytesPerSequence = stateElements * stateBytesPerElement
        stateSlots = stateElements > 0 ? maxRunning + stateSnapshots : 0
        let share = deviceBudgetBytes.map { max($0, 0) } ?? availableMemoryBytes.map { Int(Double($0) * memoryFraction) }
        let stateBytes = stateSlots * stateBytesPerSequence
        if let share, stateBytes > share {
            throw SizingError(.doesNotFit,
                "the recurrent state of \(maxRunning) sequences and \(stateSnapshots) snapshots (\(stateBytesPerSequence >> 20) MiB each) "
                + "is more than the memory share of \(share >> 20) MiB; lower --max-running or --state-snapshots")
        }
        if bytesPerBlock == 0 {
            blocks = blocksPerSequence * (maxRunning + (stateElements > 0 ? stateSnapshots : 0))
            basis = .tokenCount
        } else if let explicitBytes {
            blocks = explicitBytes / bytesPerBlock
            basis = .explicitBytes
        } else if let share, deviceBudgetBytes != nil {
            blocks = (share - stateBytes) / bytesPerBlock
            basis = .deviceBudget
        } else {
            let wanted = blocksPerSequence * maxRunning
            let cap = share.map { ($0 - stateBytes) / bytesPerBlock } ?? .max
            blocks = min(wanted, cap)
            basis = wanted <= cap ? .fullConcurrency : .memoryShare
        }
        guard blocks >= blocksPerSequence else {
            throw SizingError(.doesNotFit,
                "a KV cache of \(blocks) blocks (\(blocks * bytesPerBlock >> 20) MiB, \(basis.rawValue)) cannot hold one sequence of "
                + "\(contextLength) tokens (\(blocksPerSequence) blocks of \(bytesPerBlock) bytes); lower --ctx or give the cache more memory")
        }
    }

    /// The arithmetic, for the start-up log.
    public var summary: String {
        let windows = slidingBlockGroups == 0 ? ""
            : "; \(slidingBlockGroups) of \(blockGroups) block groups slide, holding only their window"
        let state = stateSlots == 0 ? ""
            : "; recurrent state: \(stateBytesPerSequence) bytes per sequence × \(stateSlots) slots = \(stateBytes >> 20) MiB"
        return "KV cache: \(bytesPerToken) bytes per token (2 × layers × kv_heads × head_dim × \(bytesPerElement) bytes)\(windows); "
            + "\(blocks) blocks of \(blockSize) tokens = \(bytes >> 20) MiB (\(basis.rawValue)); "
            + "\(fullContextSequences) sequences at full context (\(contextLength) tokens, \(blocksPerSequence) blocks each)\(state)"
    }

    /// `MemAvailable` from `/proc/meminfo`, in bytes; nil where the file is missing.
    public static func availableMemoryBytes() -> Int? { MachineMemory.available() }
}

/// Figures about this machine's memory, from `/proc/meminfo` and, inside a container, its cgroup limit.
enum MachineMemory {
    /// The value of `field` (`MemTotal`, `MemAvailable`) in bytes; nil where the file or field is missing.
    static func value(of field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        return value(of: field, inMeminfo: text)
    }

    /// The value of `field` in the text of a `/proc/meminfo`, in bytes.
    static func value(of field: String, inMeminfo text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("\(field):") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kibibytes = Int(fields[1]) { return kibibytes * 1024 }
        }
        return nil
    }

    /// Memory this process may still use: the machine's `MemAvailable`, lowered to what the cgroup's limit
    /// leaves (a Kubernetes pod's memory limit; `/proc/meminfo` shows the whole node's memory).
    static func available() -> Int? {
        func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
        let machine = value(of: "MemAvailable")
        let v2 = cgroupHeadroom(limit: read("/sys/fs/cgroup/memory.max"), usage: read("/sys/fs/cgroup/memory.current"))
        let v1 = cgroupHeadroom(limit: read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                                usage: read("/sys/fs/cgroup/memory/memory.usage_in_bytes"))
        return [machine, v2, v1].compactMap { $0 }.min()
    }

    /// What a cgroup's limit leaves above its usage, from the texts of its limit and usage files; nil when
    /// there is no limit (`max`, or cgroup v1's near-2^63 "unlimited") or the files are missing.
    static func cgroupHeadroom(limit: String?, usage: String?) -> Int? {
        guard let limitText = limit?.trimmingCharacters(in: .whitespacesAndNewlines),
              let limit = Int(limitText), limit < 1 << 60 else { return nil }
        let used = usage.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        return max(limit - used, 0)
    }
}

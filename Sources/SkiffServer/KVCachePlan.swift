import Foundation

/// How many KV cache blocks a server reserves, and the arithmetic behind it, for the log.
///
/// Keys and values are IEEE half: a token costs `2 (K and V) × layers × kv_heads × head_dim × 2 bytes`.
/// Without an explicit size, the cache holds `maxRunning` sequences at full context, capped by a share
/// of the memory the kernel reports available. It does not allocate anything.
public struct KVCachePlan: Sendable, Equatable {
    /// Where the size came from.
    public enum Basis: String, Sendable {
        /// `--kv-cache-bytes`.
        case explicitBytes = "explicit bytes"
        /// Enough for every running sequence at full context.
        case fullConcurrency = "max-running sequences at full context"
        /// The share of available memory, smaller than full concurrency would need.
        case memoryShare = "share of available memory"
    }

    /// Bytes of keys and values per token, all layers.
    public let bytesPerToken: Int
    /// Tokens per block.
    public let blockSize: Int
    /// Blocks reserved.
    public let blocks: Int
    /// Tokens per sequence.
    public let contextLength: Int
    /// Where the size came from.
    public let basis: Basis

    /// Bytes reserved.
    public var bytes: Int { blocks * blockSize * bytesPerToken }
    /// Blocks one full-context sequence needs.
    public var blocksPerSequence: Int { (contextLength + blockSize - 1) / blockSize }
    /// Sequences that fit at full context at once.
    public var fullContextSequences: Int { blocks / blocksPerSequence }

    /// Plans the cache. Throws when it would not hold one full-context sequence.
    public init(layers: Int, kvHeads: Int, headDimension: Int, contextLength: Int, blockSize: Int = 16, maxRunning: Int,
                explicitBytes: Int?, memoryFraction: Double, availableMemoryBytes: Int?) throws(KVCachePlanError) {
        bytesPerToken = 2 * layers * kvHeads * headDimension * 2
        self.blockSize = blockSize
        self.contextLength = contextLength
        let bytesPerBlock = bytesPerToken * blockSize
        let blocksPerSequence = (contextLength + blockSize - 1) / blockSize
        if let explicitBytes {
            blocks = explicitBytes / bytesPerBlock
            basis = .explicitBytes
        } else {
            let wanted = blocksPerSequence * maxRunning
            let cap = availableMemoryBytes.map { Int(Double($0) * memoryFraction) / bytesPerBlock } ?? .max
            blocks = min(wanted, cap)
            basis = wanted <= cap ? .fullConcurrency : .memoryShare
        }
        guard blocks >= blocksPerSequence else {
            throw KVCachePlanError(
                "a KV cache of \(blocks) blocks (\(blocks * bytesPerBlock >> 20) MiB, \(basis.rawValue)) cannot hold one sequence of "
                + "\(contextLength) tokens (\(blocksPerSequence) blocks of \(blockSize) × \(bytesPerToken) bytes); lower --ctx or give the cache more memory")
        }
    }

    /// The arithmetic, for the start-up log.
    public var summary: String {
        "KV cache: \(bytesPerToken) bytes per token (2 × layers × kv_heads × head_dim × 2 bytes); "
            + "\(blocks) blocks of \(blockSize) tokens = \(bytes >> 20) MiB (\(basis.rawValue)); "
            + "\(fullContextSequences) sequences at full context (\(contextLength) tokens)"
    }

    /// `MemAvailable` from `/proc/meminfo`, in bytes; nil where the file is missing.
    public static func availableMemoryBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kibibytes = Int(fields[1]) { return kibibytes * 1024 }
        }
        return nil
    }
}

/// The KV cache cannot be sized as asked.
public struct KVCachePlanError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and how to fix it.
    public let message: String

    init(_ message: String) { self.message = message }

    public var description: String { message }
}

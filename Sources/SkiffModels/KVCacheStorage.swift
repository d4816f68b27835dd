import CSkiffKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory of a paged KV cache: for every layer, `blockCount` blocks of `blockSize` tokens of keys and
/// values in IEEE half.
///
/// This type only owns memory. Which sequence uses which block (block tables, sharing, eviction) is the
/// engine's business. The memory is reserved up front; it becomes resident as it is written, or at once
/// when asked (`resident`).
public final class KVCacheStorage {
    /// Tokens per block.
    public let blockSize: Int
    /// Number of blocks.
    public let blockCount: Int
    let layers: [skiff_kv_layer]
    private let base: UnsafeMutableRawPointer
    private let byteCount: Int

    /// Bytes of one block across all layers (keys and values).
    public let bytesPerBlock: Int

    /// Bytes one token takes in the cache: keys and values of every layer, in half precision.
    public static func bytesPerToken(for configuration: TransformerConfiguration) -> Int {
        2 * configuration.layerCount * configuration.kvHeadCount * configuration.headDimension * 2
    }

    /// Reserves `blockCount` blocks of `blockSize` tokens for `configuration`; with `resident`, every page
    /// is made resident now (Linux), so the process holds from the start the memory it will hold under
    /// full load, and a memory limit too small for the cache shows at start.
    public init(configuration: TransformerConfiguration, blockSize: Int, blockCount: Int, resident: Bool = false) throws(ModelError) {
        guard blockSize > 0, blockCount > 0 else {
            throw ModelError(.invalidHyperparameter, "a KV cache needs at least one block of at least one token")
        }
        let perLayerBlock = configuration.kvHeadCount * blockSize * configuration.headDimension
        let halvesPerLayer = perLayerBlock * blockCount
        byteCount = 2 * configuration.layerCount * halvesPerLayer * 2
        var flags = MAP_PRIVATE | MAP_ANONYMOUS
        #if os(Linux)
        if resident { flags |= MAP_POPULATE }
        #endif
        guard let memory = mmap(nil, byteCount, PROT_READ | PROT_WRITE, flags, -1, 0),
              memory != MAP_FAILED
        else {
            throw ModelError(.outOfMemory, "could not reserve \(byteCount / (1 << 20)) MiB for the KV cache; lower the cache size")
        }
        base = memory
        self.blockSize = blockSize
        self.blockCount = blockCount
        bytesPerBlock = Self.bytesPerToken(for: configuration) * blockSize
        let halves = base.bindMemory(to: UInt16.self, capacity: byteCount / 2)
        layers = (0 ..< configuration.layerCount).map { l in
            skiff_kv_layer(keys: halves + (2 * l) * halvesPerLayer,
                           values: halves + (2 * l + 1) * halvesPerLayer,
                           block_size: Int32(blockSize),
                           kv_heads: Int32(configuration.kvHeadCount),
                           head_dim: Int32(configuration.headDimension))
        }
    }

    deinit { munmap(base, byteCount) }
}

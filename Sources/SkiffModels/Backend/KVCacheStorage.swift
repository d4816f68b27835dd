import CSkiffKernels
import SkiffHyperparameters
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory of a paged KV cache: for every attention layer of a `CacheLayout`, `blockCount` blocks of
/// `blockSize` tokens of keys and values in IEEE half.
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

    /// Bytes one token takes in the cache: keys and values of every attention layer, in half precision.
    public static func bytesPerToken(for layout: CacheLayout) -> Int { 2 * layout.kvElementsPerToken }

    /// Reserves `blockCount` blocks of `blockSize` tokens for every attention layer of `layout`; with
    /// `resident`, every page is made resident now (Linux), so the process holds from the start the memory it
    /// will hold under full load, and a memory limit too small for the cache shows at start.
    ///
    /// Every layer keeps every block (a sliding-window layer too), and keys and values must be as wide.
    public init(layout: CacheLayout, blockSize: Int, blockCount: Int, resident: Bool = false) throws(ModelError) {
        guard blockSize > 0, blockCount > 0 else {
            throw ModelError(.invalidHyperparameter, "a KV cache needs at least one block of at least one token")
        }
        var shapes: [(kvHeads: Int, headDimension: Int)] = []
        for layer in layout.layers {
            switch layer {
            case .attention(let heads, let key, let value, _) where key == value:
                shapes.append((heads, key))
            case .attention(_, let key, let value, _):
                throw ModelError(.invalidHyperparameter, "this model's attention heads have keys of \(key) and values of \(value) values; Skiff's KV cache holds keys and values of one width")
            case .recurrent:
                throw ModelError(.invalidHyperparameter, "this model has recurrent (state-space) layers, whose state Skiff's cache does not hold yet")
            }
        }
        byteCount = Self.bytesPerToken(for: layout) * blockSize * blockCount
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
        bytesPerBlock = Self.bytesPerToken(for: layout) * blockSize
        var next = base.bindMemory(to: UInt16.self, capacity: byteCount / 2)
        layers = shapes.map { shape in
            let halves = shape.kvHeads * blockSize * shape.headDimension * blockCount
            defer { next += 2 * halves }
            return skiff_kv_layer(keys: next, values: next + halves, block_size: Int32(blockSize),
                                  kv_heads: Int32(shape.kvHeads), head_dim: Int32(shape.headDimension))
        }
    }

    deinit { munmap(base, byteCount) }
}

import CSkiffKernels
import SkiffHyperparameters

/// The memory of a paged KV cache laid out as a `CacheLayout`'s block groups: `blockCount` blocks of
/// `blockSize` tokens, each block id holding the keys and values (IEEE half) of one group's layers, slot
/// `i` for the group's `i`-th layer. Every group draws on the same block ids, so a sliding-window group's
/// few blocks leave the rest of the memory to the full-attention layers.
///
/// This type only owns memory. Which sequence uses which block (block tables, sharing, eviction) is the
/// engine's business. The memory is reserved up front; it becomes resident as it is written, or at once
/// when asked (`resident`).
public final class KVCacheStorage {
    /// Tokens per block.
    public let blockSize: Int
    /// Number of blocks.
    public let blockCount: Int
    /// The block groups, whose tables a batch carries in this order.
    let groups: [CacheLayout.BlockGroup]
    /// For each layer of the layout: its group and its slot's keys and values; nil for a recurrent layer.
    let layers: [(group: Int, kv: skiff_kv_layer)?]
    private let memory: ReservedMemory

    /// Bytes of one block id: keys and values of one group's layers.
    public let bytesPerBlock: Int

    /// Bytes of one key or value element: the cache holds IEEE half.
    public static let bytesPerElement = MemoryLayout<UInt16>.size

    /// Bytes one block id holds per token: keys and values of one block group's layers.
    public static func bytesPerBlockToken(for layout: CacheLayout) -> Int { bytesPerElement * layout.kvElementsPerBlockToken }

    /// Reserves `blockCount` blocks of `blockSize` tokens for the block groups of `layout`; with `resident`,
    /// every page is made resident now (Linux), so the process holds from the start the memory it will hold
    /// under full load, and a memory limit too small for the cache shows at start.
    ///
    /// Keys and values must be as wide, and the layers sharing a slot of the same shape.
    public init(layout: CacheLayout, blockSize: Int, blockCount: Int, resident: Bool = false) throws(ModelError) {
        guard blockSize > 0, blockCount > 0 else {
            throw ModelError(.invalidHyperparameter, "a KV cache needs at least one block of at least one token")
        }
        let (slotShapes, layerSlots) = try Self.slots(of: layout)
        bytesPerBlock = Self.bytesPerBlockToken(for: layout) * blockSize
        memory = try ReservedMemory(byteCount: bytesPerBlock * blockCount, resident: resident, purpose: "the KV cache")
        self.blockSize = blockSize
        self.blockCount = blockCount
        groups = layout.blockGroups
        var next = memory.base.bindMemory(to: UInt16.self, capacity: memory.byteCount / 2)
        let slots = slotShapes.map { shape in
            let halves = shape.kvHeads * blockSize * shape.headDimension * blockCount
            defer { next += 2 * halves }
            return skiff_kv_layer(keys: next, values: next + halves, block_size: Int32(blockSize),
                                  kv_heads: Int32(shape.kvHeads), head_dim: Int32(shape.headDimension))
        }
        layers = layerSlots.map { $0.map { ($0.group, slots[$0.slot]) } }
    }

    /// The slots of a block id (one per layer of the largest block group; the groups' layers share them) and
    /// each layer's group and slot (nil for a recurrent layer), checked: keys and values must be as wide, and
    /// the layers sharing a slot of the same shape.
    static func slots(of layout: CacheLayout) throws(ModelError)
        -> (shapes: [(kvHeads: Int, headDimension: Int)], layers: [(group: Int, slot: Int)?]) {
        var shapes: [(kvHeads: Int, headDimension: Int)] = []
        var layers: [(group: Int, slot: Int)?] = Array(repeating: nil, count: layout.layers.count)
        for (g, group) in layout.blockGroups.enumerated() {
            for (slot, index) in group.layers.enumerated() {
                guard case .attention(let heads, let key, let value, _) = layout.layers[index] else { continue }
                guard key == value else {
                    throw ModelError(.invalidHyperparameter, "this model's attention heads have keys of \(key) and values of \(value) values; Skiff's KV cache holds keys and values of one width")
                }
                if slot == shapes.count {
                    shapes.append((heads, key))
                } else if shapes[slot] != (heads, key) {
                    throw ModelError(.invalidHyperparameter, "this model's sliding-window and full-attention layers differ in KV heads or head size; Skiff's KV cache needs them alike")
                }
                layers[index] = (g, slot)
            }
        }
        return (shapes, layers)
    }
}

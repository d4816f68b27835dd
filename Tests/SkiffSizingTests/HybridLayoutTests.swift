import Foundation
import GGUFTestSupport
import SkiffGGUF
import SkiffHyperparameters
import SkiffSizing
import Testing

/// A hybrid stack (attention layers and Mamba-2 layers in one model, as Jamba, Granite 4.0-H and Falcon-H1
/// are) read from a file's tensor names layer by layer: its cache layout asks for KV blocks for the attention
/// layers only and a state for the Mamba-2 layers only, and the accounting `skiff plan` and `skiff serve`
/// share charges each sequence both.
@Suite struct HybridLayoutTests {
    /// Four blocks: Mamba-2 at 0 and 2, attention (4 query heads, 2 KV heads of 16) at 1 and 3.
    static func hybridFile() throws -> String {
        var b = GGUFBuilder()
        let arch = "hybridtest"
        b["general.architecture"] = .string(arch)
        for (key, value) in [("block_count", 4), ("context_length", 4096), ("embedding_length", 64), ("feed_forward_length", 96),
                             ("attention.head_count", 4), ("attention.head_count_kv", 2), ("ssm.conv_kernel", 4),
                             ("ssm.inner_size", 128), ("ssm.state_size", 16), ("ssm.time_step_rank", 8), ("ssm.group_count", 2)] {
            b["\(arch).\(key)"] = .uint32(UInt32(value))
        }
        b["\(arch).attention.layer_norm_rms_epsilon"] = .float32(1e-6)
        func tensor(_ name: String, _ dimensions: [Int]) {
            b.tensors.append(.init(name: name, dimensions: dimensions.map(UInt64.init), typeID: GGMLType.f32.rawValue,
                                   dataBytes: 4 * dimensions.reduce(1, *)))
        }
        tensor("token_embd.weight", [64, 320])
        for i in [0, 2] { tensor("blk.\(i).ssm_in.weight", [64, 128 + 192 + 8]) }
        for i in [1, 3] {
            tensor("blk.\(i).attn_q.weight", [64, 64])
            tensor("blk.\(i).attn_k.weight", [64, 32])
            tensor("blk.\(i).attn_v.weight", [64, 32])
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-hybrid-\(UUID().uuidString).gguf").path
        try b.build().write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func eachLayerAsksForWhatItKeeps() throws {
        let path = try Self.hybridFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = try ModelHyperparameters(file: GGUFFile(path: path))
        #expect(h.attention?.layers == [1, 3])
        #expect(h.stateSpace?.layers == [0, 2])
        let layout = CacheLayout(h)
        // Keys and values of two layers of 2 heads × 16; the state of two layers: 3 convolution inputs of
        // 128 + 2 × 2 × 16 channels and 128 × 16 of scan state.
        #expect(layout.kvElementsPerToken == 2 * 2 * 2 * 16)
        #expect(layout.stateElementsPerSequence == 2 * (3 * 192 + 128 * 16))
        #expect(layout.blockGroups.map(\.layers.count) == [2])

        let accounting = CacheAccounting(layout: layout)
        #expect(accounting.bytesPerSequence(tokens: 1000) == accounting.kvBytes(tokens: 1000) + accounting.stateBytesPerSequence)
        #expect(accounting.kvBytes(tokens: 1000) > 0 && accounting.stateBytesPerSequence == 2 * layout.stateElementsPerSequence)

        // The engine's plan holds blocks for the attention layers and a state slot per running sequence and snapshot.
        let plan = try KVCachePlan(layout: layout, bytesPerElement: 2, stateBytesPerElement: 4, contextLength: 4096, maxRunning: 8,
                                   stateSnapshots: 4, stepTokens: 512, explicitBytes: 1 << 24, memoryFraction: 0.5, availableMemoryBytes: nil)
        #expect(plan.bytesPerToken == 2 * layout.kvElementsPerToken)
        #expect(plan.stateSlots == 12 && plan.stateBytesPerSequence == 4 * layout.stateElementsPerSequence)
        #expect(plan.blocks > 0)
    }
}

import Foundation
import GGUFTestSupport
import SkiffGGUF
@testable import SkiffModels
import SkiffSizing
import Testing

/// Sizing restates which models Skiff's engine runs (it links no engine code); these keep the two in step.
@Suite struct ServingEngineTests {
    @Test func architecturesAreTheEnginesOwn() {
        #expect(ServingEngine.skiffArchitectures == Set(ModelArchitectures.names))
    }

    @Test func recurrentStateIsKeptAsTheEngineKeepsIt() {
        #expect(ServingEngine.skiff.stateBytesPerElement == RecurrentStateStorage.bytesPerElement)
    }

    @Test func tensorTypesAreTheKernelsOwn() {
        let kernels = Set(GGMLType.allCases.filter { kernelType(for: $0) != nil })
        #expect(ServingEngine.skiffTensorTypes == kernels)
    }

    /// `skiff plan` sizes a Mamba-2 file: Skiff's engine serves it on CPUs with its state in 32-bit floats, vLLM
    /// on GPUs in 16 bits.
    @Test func plansAMamba2FileWithEachEnginesState() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-plan-mamba2-\(getpid()).gguf").path
        try TinyModel.build(architecture: "mamba2").build().write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try ModelShape(ggufPath: path)
        #expect(model.stateSpace?.layers == 3)
        // Per layer: 3 convolution inputs of 192 channels and 128 × 16 of scan state.
        let elements = 3 * (3 * 192 + 128 * 16)
        let catalog = HardwareCatalog.builtIn
        let cpu = try CapacityPlanner.plan(.init(model: model, hardware: try .cpu(memoryBytes: 8 << 30, measured: CPUProfile.defaultModel.stepTime),
                                                 catalog: catalog, weightPrecision: nil, contextLength: 1024))
        #expect(cpu.engine == .skiff)
        #expect(cpu.stateBytesPerSequence == 4 * elements)
        #expect(cpu.kvCacheBytesPerToken == 0)
        let gpu = try CapacityPlanner.plan(.init(model: model, hardware: .whole(try catalog.gpu(named: "l4")), catalog: catalog,
                                                 weightPrecision: .bf16, contextLength: 1024))
        #expect(gpu.engine == .vllm)
        #expect(gpu.stateBytesPerSequence == 2 * elements)
    }
}

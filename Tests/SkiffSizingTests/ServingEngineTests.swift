import SkiffGGUF
@testable import SkiffModels
import SkiffSizing
import Testing

/// Sizing restates which models Skiff's engine runs (it links no engine code); these keep the two in step.
@Suite struct ServingEngineTests {
    @Test func architecturesAreTheEnginesOwn() {
        #expect(ServingEngine.skiffArchitectures == Set(ModelArchitectures.names))
    }

    @Test func tensorTypesAreTheKernelsOwn() {
        let kernels = Set(GGMLType.allCases.filter { kernelType(for: $0) != nil })
        #expect(ServingEngine.skiffTensorTypes == kernels)
    }
}

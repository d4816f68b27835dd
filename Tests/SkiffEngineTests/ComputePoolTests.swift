import Testing
@testable import SkiffModels

/// The default thread count honours a container's CPU limit.
@Suite struct ComputePoolTests {
    @Test func cpuMaxIsRoundedUpToWholeCPUs() {
        #expect(ComputePool.cpuLimit(fromCPUMax: "400000 100000\n") == 4)
        #expect(ComputePool.cpuLimit(fromCPUMax: "150000 100000") == 2)
        #expect(ComputePool.cpuLimit(fromCPUMax: "max 100000\n") == nil)
        #expect(ComputePool.cpuLimit(fromCPUMax: "") == nil)
        #expect(ComputePool.defaultThreadCount >= 1)
    }
}

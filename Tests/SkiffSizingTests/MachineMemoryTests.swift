import Testing
@testable import SkiffSizing

/// The memory `skiff serve` sizes its KV cache from: inside a pod, the cgroup limit, not the node's memory.
@Suite struct MachineMemoryTests {
    @Test func cgroupLimitLeavesItsHeadroom() {
        #expect(MachineMemory.cgroupHeadroom(limit: "8589934592\n", usage: "2147483648\n") == 6 << 30)
        #expect(MachineMemory.cgroupHeadroom(limit: "1073741824", usage: "2147483648") == 0)
        #expect(MachineMemory.cgroupHeadroom(limit: "1073741824", usage: nil) == 1 << 30)
    }

    @Test func noLimitMeansNoCap() {
        #expect(MachineMemory.cgroupHeadroom(limit: "max\n", usage: "123") == nil)
        #expect(MachineMemory.cgroupHeadroom(limit: "9223372036854771712", usage: "123") == nil)
        #expect(MachineMemory.cgroupHeadroom(limit: nil, usage: "123") == nil)
    }

    @Test func meminfoFieldsAreKibibytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   20480000 kB\n"
        #expect(MachineMemory.value(of: "MemAvailable", inMeminfo: text) == 20_480_000 * 1024)
        #expect(MachineMemory.value(of: "SwapTotal", inMeminfo: text) == nil)
    }
}

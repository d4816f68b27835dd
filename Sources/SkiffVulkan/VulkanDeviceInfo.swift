import CVulkan

/// What a Vulkan physical device is: its name, kind and memory, as `skiff serve` logs it and `--device auto`
/// chooses by it.
package struct VulkanDeviceInfo: Sendable, Equatable {
    /// What kind of device it is.
    package enum Kind: String, Sendable {
        case discreteGPU = "discrete GPU"
        case integratedGPU = "integrated GPU"
        case virtualGPU = "virtual GPU"
        /// A software rasterizer on the CPU (Mesa's lavapipe): correct, not fast.
        case cpu = "CPU (software)"
        case other

        init(_ type: VkPhysicalDeviceType) {
            switch type {
            case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: self = .discreteGPU
            case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: self = .integratedGPU
            case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: self = .virtualGPU
            case VK_PHYSICAL_DEVICE_TYPE_CPU: self = .cpu
            default: self = .other
            }
        }

        /// Whether it is a GPU, which `--device auto` prefers over Skiff's CPU kernels.
        package var isGPU: Bool { self == .discreteGPU || self == .integratedGPU || self == .virtualGPU }
    }

    /// Its index among the loader's devices (`--device vulkan:N`).
    package var index: Int
    /// The driver's name for it ("NVIDIA L4", "llvmpipe (LLVM 15.0.6, 256 bits)").
    package var name: String
    package var kind: Kind
    /// Bytes of its largest device-local memory heap.
    package var memoryBytes: Int
    /// The Vulkan version it supports, as "1.3.230".
    package var apiVersion: String
    /// Threads of a subgroup (warp).
    package var subgroupSize: Int
    /// Whether it runs 8-bit integer dot products in hardware (VK_KHR_shader_integer_dot_product, accelerated).
    package var acceleratedInt8DotProduct: Bool
    /// Whether compute shaders have subgroup arithmetic (subgroupAdd), which the matrix-vector shader uses.
    package var subgroupArithmetic: Bool

    /// One line for logs: "NVIDIA L4 (discrete GPU, 22.5 GiB, Vulkan 1.3.277, int8 dot products)", the last where
    /// the products of Q4_0, Q4_1 and Q8_0 weights use them.
    package var summary: String {
        let gib = Double(memoryBytes) / Double(1 << 30)
        return "\(name) (\(kind.rawValue), \((gib * 10).rounded() / 10) GiB, Vulkan \(apiVersion)\(acceleratedInt8DotProduct ? ", int8 dot products" : ""))"
    }

    /// Every Vulkan device of this machine, or why there is none to list (no loader, no driver).
    package static func all() throws(VulkanError) -> [VulkanDeviceInfo] {
        let library = try VulkanLibrary.shared.get()
        return try library.physicalDevices().enumerated().map { index, device in VulkanDeviceInfo(index: index, device, library) }
    }

    init(index: Int, _ device: VkPhysicalDevice, _ library: VulkanLibrary) {
        var dot = VkPhysicalDeviceShaderIntegerDotProductProperties()
        dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES
        var subgroup = VkPhysicalDeviceSubgroupProperties()
        subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES
        var properties = VkPhysicalDeviceProperties2()
        properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2
        var memory = VkPhysicalDeviceMemoryProperties()
        var base = VkPhysicalDeviceProperties()
        library.getPhysicalDeviceProperties(device, &base)
        // Only a Vulkan 1.3 device knows the dot-product properties.
        let version13 = base.apiVersion >= (1 << 22) | (3 << 12)
        withUnsafeMutablePointer(to: &dot) { dot in
            subgroup.pNext = version13 ? UnsafeMutableRawPointer(dot) : nil
            withUnsafeMutablePointer(to: &subgroup) { subgroup in
                properties.pNext = UnsafeMutableRawPointer(subgroup)
                library.getPhysicalDeviceProperties2(device, &properties)
            }
        }
        library.getPhysicalDeviceMemoryProperties(device, &memory)
        let p = properties.properties
        self.index = index
        name = withUnsafeBytes(of: p.deviceName) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        kind = Kind(p.deviceType)
        let heaps = withUnsafeBytes(of: memory.memoryHeaps) { Array($0.bindMemory(to: VkMemoryHeap.self).prefix(Int(memory.memoryHeapCount))) }
        memoryBytes = heaps.filter { $0.flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT.rawValue != 0 }.map { Int($0.size) }.max() ?? 0
        apiVersion = "\(p.apiVersion >> 22).\((p.apiVersion >> 12) & 0x3FF).\(p.apiVersion & 0xFFF)"
        subgroupSize = Int(subgroup.subgroupSize)
        subgroupArithmetic = subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT.rawValue != 0
            && subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT.rawValue != 0
        acceleratedInt8DotProduct = version13 && dot.integerDotProduct4x8BitPackedSignedAccelerated != 0
    }
}

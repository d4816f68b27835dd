import CVulkan

/// A Vulkan buffer with memory of its own, addressed by the shaders through its device address; mapped into
/// the host's address space when its memory allows.
package final class DeviceBuffer {
    let device: VulkanDevice
    let buffer: VkBuffer
    private let memory: VkDeviceMemory
    package let byteCount: Int
    /// The device address of its first byte.
    package let address: UInt64
    /// Its bytes in the host's address space, when the memory is host-visible.
    package let mapped: UnsafeMutableRawPointer?

    init(device: VulkanDevice, byteCount: Int, memoryType: UInt32, mapped map: Bool, purpose: String) throws(VulkanError) {
        let f = device.f
        let size = VkDeviceSize(max((byteCount + 15) & ~15, 16))
        let usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT.rawValue
            | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT.rawValue
            | VK_BUFFER_USAGE_TRANSFER_SRC_BIT.rawValue | VK_BUFFER_USAGE_TRANSFER_DST_BIT.rawValue
        var info = VkBufferCreateInfo(sType: VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, pNext: nil, flags: 0, size: size, usage: usage,
                                      sharingMode: VK_SHARING_MODE_EXCLUSIVE, queueFamilyIndexCount: 0, pQueueFamilyIndices: nil)
        var buffer: VkBuffer?
        try check(f.createBuffer(device.device, &info, nil, &buffer), "vkCreateBuffer (\(byteCount) bytes for \(purpose))")
        var requirements = VkMemoryRequirements()
        f.getBufferMemoryRequirements(device.device, buffer, &requirements)
        var flags = VkMemoryAllocateFlagsInfo(sType: VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO, pNext: nil,
                                              flags: VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT.rawValue, deviceMask: 0)
        var memory: VkDeviceMemory?
        let result = withUnsafePointer(to: &flags) { flags in
            var allocation = VkMemoryAllocateInfo(sType: VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, pNext: UnsafeRawPointer(flags),
                                                  allocationSize: requirements.size, memoryTypeIndex: memoryType)
            return f.allocateMemory(device.device, &allocation, nil, &memory)
        }
        guard result == VK_SUCCESS, let memory else {
            f.destroyBuffer(device.device, buffer, nil)
            if result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY {
                throw VulkanError(.outOfMemory, "\(device.info.name) has no room for \(byteCount / (1 << 20)) MiB more (\(purpose)); lower --gpu-memory-utilization or the KV cache size, or use a smaller model")
            }
            throw VulkanError.call("vkAllocateMemory (\(purpose))", result)
        }
        try check(f.bindBufferMemory(device.device, buffer, memory, 0), "vkBindBufferMemory")
        var pointer: UnsafeMutableRawPointer?
        if map {
            try check(f.mapMemory(device.device, memory, 0, VkDeviceSize(VK_WHOLE_SIZE), 0, &pointer), "vkMapMemory (\(purpose))")
        }
        var addressInfo = VkBufferDeviceAddressInfo(sType: VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO, pNext: nil, buffer: buffer)
        self.device = device
        self.buffer = buffer!
        self.memory = memory
        self.byteCount = byteCount
        self.mapped = pointer
        address = f.getBufferDeviceAddress(device.device, &addressInfo)
    }

    /// Views of the buffer as texel buffers, by format, made on first use.
    private var views: [UInt32: VkBufferView] = [:]

    /// The buffer as a texel buffer in `format` (R32_UINT, R32G32_SFLOAT, R32G32B32A32_UINT or _SFLOAT) from its first
    /// byte, as many texels as the device allows in one view.
    package func texelView(_ format: VkFormat) throws(VulkanError) -> VkBufferView {
        if let view = views[format.rawValue] { return view }
        let texelBytes = switch format {
        case VK_FORMAT_R32_UINT, VK_FORMAT_R32_SFLOAT: 4
        case VK_FORMAT_R32G32_UINT, VK_FORMAT_R32G32_SFLOAT: 8
        default: 16
        }
        let texels = min((byteCount + texelBytes - 1) / texelBytes, device.maxTexelBufferElements)
        var info = VkBufferViewCreateInfo(sType: VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, pNext: nil, flags: 0, buffer: buffer, format: format,
                                          offset: 0, range: VkDeviceSize(texels * texelBytes))
        var view: VkBufferView?
        try check(device.f.createBufferView(device.device, &info, nil, &view), "vkCreateBufferView")
        views[format.rawValue] = view!
        return view!
    }

    deinit {
        for view in views.values { device.f.destroyBufferView(device.device, view, nil) }
        device.f.destroyBuffer(device.device, buffer, nil)
        device.f.freeMemory(device.device, memory, nil)
    }
}

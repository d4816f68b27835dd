import CVulkan
import Foundation

/// One Vulkan device opened for compute: a queue, memory for buffers, the compute pipelines of Skiff's shaders
/// (made on first use) and one-shot command streams.
///
/// Shaders address buffers by their device addresses (buffer device address, core in Vulkan 1.2), passed in push
/// constants, so no descriptor sets exist. A device belongs to the one thread that drives a model's forward pass.
package final class VulkanDevice {
    package let info: VulkanDeviceInfo
    let device: VkDevice
    let queue: VkQueue
    let queueFamily: UInt32
    let f: DeviceFunctions
    /// Memory types for buffers the shaders use, and for buffers the host writes and reads.
    let deviceLocalType: UInt32
    let hostVisibleType: UInt32
    /// Whether device-local memory can be mapped (unified memory, or a resizable BAR): then no staging copies.
    let deviceLocalIsMappable: Bool
    /// The most elements a texel buffer view may span.
    package let maxTexelBufferElements: Int
    /// Whether shaders may use 8-bit integer dot products (VK_KHR_shader_integer_dot_product, enabled where the
    /// device has it, accelerated or not: `info.acceleratedInt8DotProduct` says which).
    package let integerDotProduct: Bool
    private let commandPool: VkCommandPool

    /// The extension the shaders' texel buffers are bound through: descriptors pushed with each dispatch, no pools.
    static let pushDescriptorExtension = "VK_KHR_push_descriptor"
    /// The extension of the integer dot products (`matvec_q8`), enabled where the device has it.
    static let integerDotProductExtension = "VK_KHR_shader_integer_dot_product"
    private var pipelines: [String: ComputePipeline] = [:]
    private var staging: DeviceBuffer?

    /// The device names `--device auto` would pick, or nil when `auto` means the CPU: the first GPU the loader
    /// lists. A software device (lavapipe) is never picked by `auto`: Skiff's CPU kernels are faster.
    package static func automaticChoice() -> VulkanDeviceInfo? {
        (try? VulkanDeviceInfo.all())?.first { $0.kind.isGPU }
    }

    /// Opens device `index` of the loader's list.
    /// - Throws: `VulkanError` when there is no such device or it lacks what the shaders need (buffer device
    ///   addresses, 8- and 16-bit storage, 8- and 16-bit integers), each named.
    package init(index: Int) throws(VulkanError) {
        let library = try VulkanLibrary.shared.get()
        let physicalDevices = try library.physicalDevices()
        guard physicalDevices.indices.contains(index) else {
            throw VulkanError(.unavailable, physicalDevices.isEmpty
                ? "no Vulkan device found: install a driver (NVIDIA's, or mesa-vulkan-drivers for the software device)"
                : "there is no Vulkan device \(index); this machine has \(physicalDevices.count) (vulkan:0 ... vulkan:\(physicalDevices.count - 1))")
        }
        let physical = physicalDevices[index]
        info = VulkanDeviceInfo(index: index, physical, library)

        // The features the shaders are compiled with.
        var v11 = VkPhysicalDeviceVulkan11Features()
        v11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES
        var v12 = VkPhysicalDeviceVulkan12Features()
        v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES
        var features = VkPhysicalDeviceFeatures2()
        features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
        withUnsafeMutablePointer(to: &v12) { v12 in
            v11.pNext = UnsafeMutableRawPointer(v12)
            withUnsafeMutablePointer(to: &v11) { v11 in
                features.pNext = UnsafeMutableRawPointer(v11)
                library.getPhysicalDeviceFeatures2(physical, &features)
            }
        }
        let missing = [("buffer device addresses", v12.bufferDeviceAddress), ("8-bit storage buffers", v12.storageBuffer8BitAccess),
                       ("8-bit integers in shaders", v12.shaderInt8), ("16-bit storage buffers", v11.storageBuffer16BitAccess),
                       ("16-bit integers in shaders", features.features.shaderInt16),
                       ("subgroup arithmetic in compute shaders", info.subgroupArithmetic ? 1 : 0)]
            .filter { $0.1 == 0 }.map(\.0)
        let extensions = try library.extensions(of: physical)
        let missingAll = missing + (extensions.contains(Self.pushDescriptorExtension) ? [] : [Self.pushDescriptorExtension])
        guard missingAll.isEmpty else {
            throw VulkanError(.unsupportedDevice, "Vulkan device \(index) (\(info.name)) lacks \(missingAll.joined(separator: ", ")), which Skiff's shaders need; use --device cpu")
        }
        var enabled11 = VkPhysicalDeviceVulkan11Features()
        enabled11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES
        enabled11.storageBuffer16BitAccess = 1
        var enabled12 = VkPhysicalDeviceVulkan12Features()
        enabled12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES
        enabled12.bufferDeviceAddress = 1
        enabled12.storageBuffer8BitAccess = 1
        enabled12.shaderInt8 = 1
        var enabled = VkPhysicalDeviceFeatures2()
        enabled.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
        enabled.features.shaderInt16 = 1
        // Integer dot products where the device has them (the extension and its feature).
        var dot = VkPhysicalDeviceShaderIntegerDotProductFeatures()
        dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES
        if extensions.contains(Self.integerDotProductExtension) {
            var query = VkPhysicalDeviceFeatures2()
            query.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
            withUnsafeMutablePointer(to: &dot) { dot in
                query.pNext = UnsafeMutableRawPointer(dot)
                library.getPhysicalDeviceFeatures2(physical, &query)
            }
            dot.pNext = nil
        }
        let withDot = dot.shaderIntegerDotProduct != 0
        integerDotProduct = withDot
        let extensionNames = [Self.pushDescriptorExtension] + (withDot ? [Self.integerDotProductExtension] : [])

        // A queue family that computes.
        var familyCount: UInt32 = 0
        library.getPhysicalDeviceQueueFamilyProperties(physical, &familyCount, nil)
        var families = [VkQueueFamilyProperties](repeating: VkQueueFamilyProperties(), count: Int(familyCount))
        library.getPhysicalDeviceQueueFamilyProperties(physical, &familyCount, &families)
        guard let family = families.firstIndex(where: { $0.queueFlags & VK_QUEUE_COMPUTE_BIT.rawValue != 0 }) else {
            throw VulkanError(.unsupportedDevice, "Vulkan device \(index) (\(info.name)) has no compute queue")
        }
        queueFamily = UInt32(family)

        var priority: Float = 1
        var created: VkDevice?
        let result = withUnsafeMutablePointer(to: &dot) { dot in
          enabled12.pNext = withDot ? UnsafeMutableRawPointer(dot) : nil
          return withUnsafeMutablePointer(to: &enabled12) { enabled12 in
            enabled11.pNext = UnsafeMutableRawPointer(enabled12)
            return withUnsafeMutablePointer(to: &enabled11) { enabled11 in
                enabled.pNext = UnsafeMutableRawPointer(enabled11)
                return withUnsafeMutablePointer(to: &enabled) { enabled in
                    return withUnsafePointer(to: &priority) { priority in
                        var queueInfo = VkDeviceQueueCreateInfo(sType: VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, pNext: nil, flags: 0,
                                                                queueFamilyIndex: UInt32(family), queueCount: 1, pQueuePriorities: priority)
                        return withUnsafePointer(to: &queueInfo) { queueInfo in
                            let names = extensionNames.map { strdup($0) }
                            defer { names.forEach { free($0) } }
                            let pointers = names.map { UnsafePointer<CChar>($0) }
                            return pointers.withUnsafeBufferPointer { pointers in
                                var deviceInfo = VkDeviceCreateInfo(sType: VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, pNext: UnsafeRawPointer(enabled),
                                                                    flags: 0, queueCreateInfoCount: 1, pQueueCreateInfos: queueInfo,
                                                                    enabledLayerCount: 0, ppEnabledLayerNames: nil,
                                                                    enabledExtensionCount: UInt32(pointers.count),
                                                                    ppEnabledExtensionNames: pointers.baseAddress, pEnabledFeatures: nil)
                                return library.createDevice(physical, &deviceInfo, nil, &created)
                            }
                        }
                    }
                }
            }
          }
        }
        try check(result, "vkCreateDevice on \(info.name)")
        guard let created else { throw VulkanError(.failed, "vkCreateDevice returned no device") }
        device = created
        f = try DeviceFunctions(device, library)

        var queue: VkQueue?
        f.getDeviceQueue(device, UInt32(family), 0, &queue)
        guard let queue else { throw VulkanError(.failed, "vkGetDeviceQueue returned no queue") }
        self.queue = queue

        var properties = VkPhysicalDeviceProperties()
        library.getPhysicalDeviceProperties(physical, &properties)
        maxTexelBufferElements = Int(properties.limits.maxTexelBufferElements)
        var memory = VkPhysicalDeviceMemoryProperties()
        library.getPhysicalDeviceMemoryProperties(physical, &memory)
        let types = withUnsafeBytes(of: memory.memoryTypes) { Array($0.bindMemory(to: VkMemoryType.self).prefix(Int(memory.memoryTypeCount))) }
        func first(_ required: VkMemoryPropertyFlagBits...) -> UInt32? {
            let mask = required.reduce(0) { $0 | $1.rawValue }
            return types.firstIndex { $0.propertyFlags & mask == mask }.map(UInt32.init)
        }
        guard let local = first(VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT),
              let host = first(VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, VK_MEMORY_PROPERTY_HOST_CACHED_BIT)
                ?? first(VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)
        else {
            f.destroyDevice(device, nil)
            throw VulkanError(.unsupportedDevice, "Vulkan device \(index) (\(info.name)) lacks device-local or host-coherent memory")
        }
        let mappable = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue
        deviceLocalType = local
        hostVisibleType = host
        deviceLocalIsMappable = types[Int(local)].propertyFlags & mappable == mappable

        var poolInfo = VkCommandPoolCreateInfo(sType: VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, pNext: nil,
                                               flags: VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT.rawValue, queueFamilyIndex: queueFamily)
        var pool: VkCommandPool?
        let poolResult = f.createCommandPool(device, &poolInfo, nil, &pool)
        guard poolResult == VK_SUCCESS, let pool else {
            f.destroyDevice(device, nil)
            throw VulkanError.call("vkCreateCommandPool", poolResult)
        }
        commandPool = pool
    }

    deinit {
        _ = f.deviceWaitIdle(device)
        staging = nil
        pipelines.removeAll()
        f.destroyCommandPool(device, commandPool, nil)
        f.destroyDevice(device, nil)
    }

    /// The compute pipeline of shader variant `name` (Shaders/*.comp), made on first use.
    package func pipeline(_ name: String) throws(VulkanError) -> ComputePipeline {
        if let pipeline = pipelines[name] { return pipeline }
        let pipeline = try ComputePipeline(name: name, on: self)
        pipelines[name] = pipeline
        return pipeline
    }

    /// A buffer of `byteCount` bytes the shaders address; `hostVisible` makes it one the host maps (inputs
    /// written and outputs read each step), else it is device-local.
    package func buffer(byteCount: Int, hostVisible: Bool, purpose: String) throws(VulkanError) -> DeviceBuffer {
        try DeviceBuffer(device: self, byteCount: byteCount, memoryType: hostVisible ? hostVisibleType : deviceLocalType,
                         mapped: hostVisible || deviceLocalIsMappable, purpose: purpose)
    }

    /// Copies `bytes` into `buffer` at `offset`: directly when it is mapped, else through a staging buffer.
    package func upload(_ bytes: UnsafeRawBufferPointer, to buffer: DeviceBuffer, offset: Int = 0) throws(VulkanError) {
        precondition(offset + bytes.count <= buffer.byteCount, "upload past the end of a buffer")
        guard bytes.count > 0 else { return }
        if let mapped = buffer.mapped {
            (mapped + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            return
        }
        let chunk = 64 << 20
        if staging == nil { staging = try self.buffer(byteCount: chunk, hostVisible: true, purpose: "staging uploads") }
        let staging = staging!
        let stream = try CommandStream(device: self)
        var done = 0
        while done < bytes.count {
            let count = min(chunk, bytes.count - done)
            staging.mapped!.copyMemory(from: bytes.baseAddress! + done, byteCount: count)
            stream.copy(from: staging, offset: 0, to: buffer, offset: offset + done, byteCount: count)
            try stream.submitAndWait()
            done += count
        }
    }

    /// A command buffer from this device's pool.
    func allocateCommandBuffer() throws(VulkanError) -> VkCommandBuffer {
        var info = VkCommandBufferAllocateInfo(sType: VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, pNext: nil, commandPool: commandPool,
                                               level: VK_COMMAND_BUFFER_LEVEL_PRIMARY, commandBufferCount: 1)
        var buffer: VkCommandBuffer?
        try check(f.allocateCommandBuffers(device, &info, &buffer), "vkAllocateCommandBuffers")
        return buffer!
    }

    func freeCommandBuffer(_ buffer: VkCommandBuffer) {
        var buffer: VkCommandBuffer? = buffer
        f.freeCommandBuffers(device, commandPool, 1, &buffer)
    }
}

/// The device-level Vulkan functions Skiff calls, loaded once per device.
struct DeviceFunctions {
    let destroyDevice: PFN_vkDestroyDevice
    let deviceWaitIdle: PFN_vkDeviceWaitIdle
    let getDeviceQueue: PFN_vkGetDeviceQueue
    let createBuffer: PFN_vkCreateBuffer
    let destroyBuffer: PFN_vkDestroyBuffer
    let getBufferMemoryRequirements: PFN_vkGetBufferMemoryRequirements
    let allocateMemory: PFN_vkAllocateMemory
    let freeMemory: PFN_vkFreeMemory
    let bindBufferMemory: PFN_vkBindBufferMemory
    let mapMemory: PFN_vkMapMemory
    let getBufferDeviceAddress: PFN_vkGetBufferDeviceAddress
    let createShaderModule: PFN_vkCreateShaderModule
    let destroyShaderModule: PFN_vkDestroyShaderModule
    let createPipelineLayout: PFN_vkCreatePipelineLayout
    let destroyPipelineLayout: PFN_vkDestroyPipelineLayout
    let createComputePipelines: PFN_vkCreateComputePipelines
    let destroyPipeline: PFN_vkDestroyPipeline
    let createCommandPool: PFN_vkCreateCommandPool
    let destroyCommandPool: PFN_vkDestroyCommandPool
    let allocateCommandBuffers: PFN_vkAllocateCommandBuffers
    let freeCommandBuffers: PFN_vkFreeCommandBuffers
    let resetCommandBuffer: PFN_vkResetCommandBuffer
    let beginCommandBuffer: PFN_vkBeginCommandBuffer
    let endCommandBuffer: PFN_vkEndCommandBuffer
    let cmdBindPipeline: PFN_vkCmdBindPipeline
    let cmdPushConstants: PFN_vkCmdPushConstants
    let cmdDispatch: PFN_vkCmdDispatch
    let cmdPipelineBarrier: PFN_vkCmdPipelineBarrier
    let cmdCopyBuffer: PFN_vkCmdCopyBuffer
    let cmdFillBuffer: PFN_vkCmdFillBuffer
    let createFence: PFN_vkCreateFence
    let destroyFence: PFN_vkDestroyFence
    let resetFences: PFN_vkResetFences
    let waitForFences: PFN_vkWaitForFences
    let queueSubmit: PFN_vkQueueSubmit
    let createDescriptorSetLayout: PFN_vkCreateDescriptorSetLayout
    let destroyDescriptorSetLayout: PFN_vkDestroyDescriptorSetLayout
    let createBufferView: PFN_vkCreateBufferView
    let destroyBufferView: PFN_vkDestroyBufferView
    let cmdPushDescriptorSet: PFN_vkCmdPushDescriptorSetKHR

    init(_ device: VkDevice, _ library: VulkanLibrary) throws(VulkanError) {
        func load<F>(_ name: String) throws(VulkanError) -> F {
            guard let function = library.getDeviceProcAddr(device, name) else {
                throw VulkanError(.unsupportedDevice, "the Vulkan driver lacks \(name)")
            }
            return unsafeBitCast(function, to: F.self)
        }
        destroyDevice = try load("vkDestroyDevice")
        deviceWaitIdle = try load("vkDeviceWaitIdle")
        getDeviceQueue = try load("vkGetDeviceQueue")
        createBuffer = try load("vkCreateBuffer")
        destroyBuffer = try load("vkDestroyBuffer")
        getBufferMemoryRequirements = try load("vkGetBufferMemoryRequirements")
        allocateMemory = try load("vkAllocateMemory")
        freeMemory = try load("vkFreeMemory")
        bindBufferMemory = try load("vkBindBufferMemory")
        mapMemory = try load("vkMapMemory")
        getBufferDeviceAddress = try load("vkGetBufferDeviceAddress")
        createShaderModule = try load("vkCreateShaderModule")
        destroyShaderModule = try load("vkDestroyShaderModule")
        createPipelineLayout = try load("vkCreatePipelineLayout")
        destroyPipelineLayout = try load("vkDestroyPipelineLayout")
        createComputePipelines = try load("vkCreateComputePipelines")
        destroyPipeline = try load("vkDestroyPipeline")
        createCommandPool = try load("vkCreateCommandPool")
        destroyCommandPool = try load("vkDestroyCommandPool")
        allocateCommandBuffers = try load("vkAllocateCommandBuffers")
        freeCommandBuffers = try load("vkFreeCommandBuffers")
        resetCommandBuffer = try load("vkResetCommandBuffer")
        beginCommandBuffer = try load("vkBeginCommandBuffer")
        endCommandBuffer = try load("vkEndCommandBuffer")
        cmdBindPipeline = try load("vkCmdBindPipeline")
        cmdPushConstants = try load("vkCmdPushConstants")
        cmdDispatch = try load("vkCmdDispatch")
        cmdPipelineBarrier = try load("vkCmdPipelineBarrier")
        cmdCopyBuffer = try load("vkCmdCopyBuffer")
        cmdFillBuffer = try load("vkCmdFillBuffer")
        createFence = try load("vkCreateFence")
        destroyFence = try load("vkDestroyFence")
        resetFences = try load("vkResetFences")
        waitForFences = try load("vkWaitForFences")
        queueSubmit = try load("vkQueueSubmit")
        createDescriptorSetLayout = try load("vkCreateDescriptorSetLayout")
        destroyDescriptorSetLayout = try load("vkDestroyDescriptorSetLayout")
        createBufferView = try load("vkCreateBufferView")
        destroyBufferView = try load("vkDestroyBufferView")
        cmdPushDescriptorSet = try load("vkCmdPushDescriptorSetKHR")
    }
}

import CVulkan
import Foundation

/// A compute shader variant made into a pipeline whose inputs are push constants (buffer addresses and sizes, at
/// most `PushConstants.capacity` bytes) and, for a shader that reads them, texel buffers (set 0, bindings 0 ...
/// `texelBuffers - 1`, pushed with each dispatch).
package final class ComputePipeline {
    package let name: String
    /// Texel buffers the shader reads.
    package let texelBuffers: Int
    let pipeline: VkPipeline
    let layout: VkPipelineLayout
    private let setLayout: VkDescriptorSetLayout?
    private let device: VulkanDevice

    init(name: String, on device: VulkanDevice) throws(VulkanError) {
        guard let base64 = ShaderBinaries.spirv[name], let code = Data(base64Encoded: base64), code.count % 4 == 0 else {
            preconditionFailure("no compiled shader named \(name)")
        }
        let f = device.f
        var module: VkShaderModule?
        let moduleResult = code.withUnsafeBytes { bytes in
            var info = VkShaderModuleCreateInfo(sType: VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, pNext: nil, flags: 0, codeSize: bytes.count,
                                                pCode: bytes.baseAddress!.assumingMemoryBound(to: UInt32.self))
            return f.createShaderModule(device.device, &info, nil, &module)
        }
        try check(moduleResult, "vkCreateShaderModule (\(name))")
        defer { f.destroyShaderModule(device.device, module, nil) }

        let texelBuffers = ShaderBinaries.texelBuffers[name] ?? 0
        var setLayout: VkDescriptorSetLayout?
        if texelBuffers > 0 {
            var bindings = (0 ..< texelBuffers).map { binding in
                VkDescriptorSetLayoutBinding(binding: UInt32(binding), descriptorType: VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, descriptorCount: 1,
                                             stageFlags: VK_SHADER_STAGE_COMPUTE_BIT.rawValue, pImmutableSamplers: nil)
            }
            let result = bindings.withUnsafeMutableBufferPointer { bindings in
                var info = VkDescriptorSetLayoutCreateInfo(sType: VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, pNext: nil,
                                                           flags: VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR.rawValue,
                                                           bindingCount: UInt32(bindings.count), pBindings: bindings.baseAddress)
                return f.createDescriptorSetLayout(device.device, &info, nil, &setLayout)
            }
            try check(result, "vkCreateDescriptorSetLayout (\(name))")
        }
        var range = VkPushConstantRange(stageFlags: VK_SHADER_STAGE_COMPUTE_BIT.rawValue, offset: 0, size: UInt32(PushConstants.capacity))
        var layout: VkPipelineLayout?
        let layoutResult = withUnsafePointer(to: &range) { range in
            withUnsafePointer(to: &setLayout) { setLayouts in
                var layoutInfo = VkPipelineLayoutCreateInfo(sType: VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, pNext: nil, flags: 0,
                                                            setLayoutCount: texelBuffers > 0 ? 1 : 0, pSetLayouts: setLayouts,
                                                            pushConstantRangeCount: 1, pPushConstantRanges: range)
                return f.createPipelineLayout(device.device, &layoutInfo, nil, &layout)
            }
        }
        guard layoutResult == VK_SUCCESS else {
            if let setLayout { f.destroyDescriptorSetLayout(device.device, setLayout, nil) }
            throw VulkanError.call("vkCreatePipelineLayout (\(name))", layoutResult)
        }
        var pipeline: VkPipeline?
        let result = "main".withCString { entry in
            var info = VkComputePipelineCreateInfo(
                sType: VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, pNext: nil, flags: 0,
                stage: VkPipelineShaderStageCreateInfo(sType: VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, pNext: nil, flags: 0,
                                                       stage: VK_SHADER_STAGE_COMPUTE_BIT, module: module, pName: entry, pSpecializationInfo: nil),
                layout: layout, basePipelineHandle: nil, basePipelineIndex: -1)
            return f.createComputePipelines(device.device, nil, 1, &info, nil, &pipeline)
        }
        guard result == VK_SUCCESS, let pipeline, let layout else {
            f.destroyPipelineLayout(device.device, layout, nil)
            if let setLayout { f.destroyDescriptorSetLayout(device.device, setLayout, nil) }
            throw VulkanError.call("vkCreateComputePipelines (\(name))", result)
        }
        self.name = name
        self.texelBuffers = texelBuffers
        self.setLayout = setLayout
        self.pipeline = pipeline
        self.layout = layout
        self.device = device
    }

    deinit {
        device.f.destroyPipeline(device.device, pipeline, nil)
        device.f.destroyPipelineLayout(device.device, layout, nil)
        if let setLayout { device.f.destroyDescriptorSetLayout(device.device, setLayout, nil) }
    }
}

/// A shader's push constants, laid out as GLSL's std430 lays out its `push_constant` block: buffer addresses
/// (8 bytes, 8-aligned) and 4-byte scalars in the order the shader declares them.
package struct PushConstants {
    /// The bytes every device has (Vulkan's guaranteed minimum of `maxPushConstantsSize`).
    package static let capacity = 128

    private(set) var bytes: [UInt8] = []

    package init() {}

    /// The address of byte `offset` of `buffer`.
    package mutating func address(_ buffer: DeviceBuffer, offset: Int = 0) {
        while bytes.count % 8 != 0 { bytes.append(0) }
        append(buffer.address + UInt64(offset))
    }

    package mutating func uint(_ value: Int) {
        precondition(value >= 0 && value <= Int(UInt32.max), "push constant \(value) does not fit 32 bits")
        append(UInt32(value))
    }

    package mutating func int(_ value: Int) { append(Int32(value)) }

    package mutating func float(_ value: Float) { append(value) }

    private mutating func append<T: BitwiseCopyable>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
        precondition(bytes.count <= Self.capacity, "push constants take at most \(Self.capacity) bytes")
    }
}

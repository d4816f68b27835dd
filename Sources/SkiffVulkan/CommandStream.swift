import CVulkan

/// One command buffer of dispatches, copies and barriers, recorded on the host and run on the device in one
/// submission (`submitAndWait`): an engine step's whole forward pass, or an upload.
package final class CommandStream {
    private let device: VulkanDevice
    private let commands: VkCommandBuffer
    private let fence: VkFence
    private var recording = false
    /// Dispatches recorded since the last submission.
    package private(set) var dispatchCount = 0

    package init(device: VulkanDevice) throws(VulkanError) {
        self.device = device
        commands = try device.allocateCommandBuffer()
        var info = VkFenceCreateInfo(sType: VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, pNext: nil, flags: 0)
        var fence: VkFence?
        let result = device.f.createFence(device.device, &info, nil, &fence)
        guard result == VK_SUCCESS, let fence else {
            device.freeCommandBuffer(commands)
            throw VulkanError.call("vkCreateFence", result)
        }
        self.fence = fence
    }

    deinit {
        device.f.destroyFence(device.device, fence, nil)
        device.freeCommandBuffer(commands)
    }

    private func begin() {
        guard !recording else { return }
        _ = device.f.resetCommandBuffer(commands, 0)
        var info = VkCommandBufferBeginInfo(sType: VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, pNext: nil,
                                            flags: VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT.rawValue, pInheritanceInfo: nil)
        _ = device.f.beginCommandBuffer(commands, &info)
        recording = true
        dispatchCount = 0
    }

    /// Runs `pipeline` over `groups` workgroups with `constants` and the texel buffers it reads (`texels`, binding
    /// by binding).
    package func dispatch(_ pipeline: ComputePipeline, _ constants: PushConstants, texels: [VkBufferView] = [], groups x: Int, _ y: Int = 1,
                          _ z: Int = 1) {
        precondition(texels.count == pipeline.texelBuffers, "\(pipeline.name) reads \(pipeline.texelBuffers) texel buffers, not \(texels.count)")
        guard x > 0, y > 0, z > 0 else { return }
        begin()
        device.f.cmdBindPipeline(commands, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline)
        if !texels.isEmpty {
            let views: [VkBufferView?] = texels
            views.withUnsafeBufferPointer { views in
                var writes = (0 ..< views.count).map { binding in
                    VkWriteDescriptorSet(sType: VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, pNext: nil, dstSet: nil, dstBinding: UInt32(binding),
                                         dstArrayElement: 0, descriptorCount: 1, descriptorType: VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
                                         pImageInfo: nil, pBufferInfo: nil, pTexelBufferView: views.baseAddress! + binding)
                }
                device.f.cmdPushDescriptorSet(commands, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, UInt32(writes.count), &writes)
            }
        }
        constants.bytes.withUnsafeBytes { bytes in
            device.f.cmdPushConstants(commands, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT.rawValue, 0, UInt32(bytes.count), bytes.baseAddress)
        }
        device.f.cmdDispatch(commands, UInt32(x), UInt32(y), UInt32(z))
        dispatchCount += 1
    }

    /// Makes every write recorded so far visible to every read and write recorded after it.
    package func barrier() {
        begin()
        let access = VK_ACCESS_SHADER_READ_BIT.rawValue | VK_ACCESS_SHADER_WRITE_BIT.rawValue | VK_ACCESS_TRANSFER_READ_BIT.rawValue
            | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue | VK_ACCESS_HOST_READ_BIT.rawValue
        var barrier = VkMemoryBarrier(sType: VK_STRUCTURE_TYPE_MEMORY_BARRIER, pNext: nil, srcAccessMask: access, dstAccessMask: access)
        let stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue | VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue
        device.f.cmdPipelineBarrier(commands, stages, stages | VK_PIPELINE_STAGE_HOST_BIT.rawValue, 0, 1, &barrier, 0, nil, 0, nil)
    }

    /// Copies `byteCount` bytes between buffers.
    package func copy(from source: DeviceBuffer, offset sourceOffset: Int, to destination: DeviceBuffer, offset destinationOffset: Int,
                      byteCount: Int) {
        guard byteCount > 0 else { return }
        begin()
        var region = VkBufferCopy(srcOffset: VkDeviceSize(sourceOffset), dstOffset: VkDeviceSize(destinationOffset), size: VkDeviceSize(byteCount))
        device.f.cmdCopyBuffer(commands, source.buffer, destination.buffer, 1, &region)
    }

    /// Fills `byteCount` bytes (a multiple of 4) of `buffer` from `offset` with zeros.
    package func zero(_ buffer: DeviceBuffer, offset: Int, byteCount: Int) {
        guard byteCount > 0 else { return }
        begin()
        device.f.cmdFillBuffer(commands, buffer.buffer, VkDeviceSize(offset), VkDeviceSize(byteCount), 0)
    }

    /// Submits what was recorded and waits for the device to finish it (no time limit: a step of a large batch
    /// on a software device takes seconds). Nothing recorded: returns at once.
    package func submitAndWait() throws(VulkanError) {
        guard recording else { return }
        barrier()
        recording = false
        try check(device.f.endCommandBuffer(commands), "vkEndCommandBuffer")
        var commands: VkCommandBuffer? = self.commands
        var fence: VkFence? = self.fence
        try check(device.f.resetFences(device.device, 1, &fence), "vkResetFences")
        let result = withUnsafePointer(to: &commands) { commands in
            var submit = VkSubmitInfo(sType: VK_STRUCTURE_TYPE_SUBMIT_INFO, pNext: nil, waitSemaphoreCount: 0, pWaitSemaphores: nil,
                                      pWaitDstStageMask: nil, commandBufferCount: 1, pCommandBuffers: commands, signalSemaphoreCount: 0,
                                      pSignalSemaphores: nil)
            return device.f.queueSubmit(device.queue, 1, &submit, self.fence)
        }
        try check(result, "vkQueueSubmit")
        try check(device.f.waitForFences(device.device, 1, &fence, 1, UInt64.max), "vkWaitForFences")
    }
}

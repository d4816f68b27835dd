import CVulkan

/// Why Vulkan could not be used or a Vulkan call failed, with a message a user can act on.
package struct VulkanError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable {
        /// No Vulkan library, or no device that can compute.
        case unavailable
        /// The device lacks a feature Skiff's shaders need.
        case unsupportedDevice
        /// Device or host memory ran out.
        case outOfMemory
        /// A Vulkan call failed, or the device was lost.
        case failed
    }

    package let kind: Kind
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }

    /// The error of a failed call `call` that returned `result`.
    static func call(_ call: String, _ result: VkResult) -> VulkanError {
        switch result {
        case VK_ERROR_OUT_OF_DEVICE_MEMORY: VulkanError(.outOfMemory, "\(call): the device is out of memory; lower --gpu-memory-utilization or the KV cache size")
        case VK_ERROR_OUT_OF_HOST_MEMORY: VulkanError(.outOfMemory, "\(call): the host is out of memory")
        case VK_ERROR_DEVICE_LOST: VulkanError(.failed, "\(call): the device was lost (a driver reset or a hung kernel)")
        default: VulkanError(.failed, "\(call) failed with VkResult \(result.rawValue)")
        }
    }
}

/// Throws the `VulkanError` of `call` unless `result` is success.
@inline(__always)
func check(_ result: VkResult, _ call: @autoclosure () -> String) throws(VulkanError) {
    guard result == VK_SUCCESS else { throw VulkanError.call(call(), result) }
}

import SkiffVulkan

/// The Vulkan device the tests run on: the first the loader lists (lavapipe under `make test`, which installs
/// Mesa's drivers). None is a failure, not a skip: these tests exist to prove the device path.
enum VulkanTestDevice {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func index() throws -> Int {
        let devices: [VulkanDeviceInfo]
        do {
            devices = try VulkanDeviceInfo.all()
        } catch {
            throw Missing(description: "no Vulkan: \(error.message) (make test installs libvulkan1 and mesa-vulkan-drivers)")
        }
        guard let first = devices.first else {
            throw Missing(description: "no Vulkan device: install mesa-vulkan-drivers (make test does)")
        }
        return first.index
    }
}

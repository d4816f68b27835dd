import SkiffVulkan

/// Where a model's forward passes compute.
public enum ComputeDevice: Sendable, Equatable, CustomStringConvertible {
    /// Skiff's C kernels on the host's cores.
    case cpu
    /// Vulkan device `index` of the loader's list (`--device vulkan:N`), running Skiff's compute shaders.
    case vulkan(index: Int)

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .vulkan(let index): "vulkan:\(index)"
        }
    }

    /// The device a `--device` argument names: `cpu`, `vulkan` (device 0), `vulkan:N`, or `auto`, the first
    /// Vulkan GPU the loader lists, else the CPU (a software Vulkan device such as lavapipe is never chosen by
    /// `auto`: the CPU kernels are faster than it).
    /// - Throws: `ModelError` `.deviceUnavailable` for another word, or a Vulkan device this machine lacks.
    public static func named(_ argument: String) throws(ModelError) -> ComputeDevice {
        switch argument {
        case "cpu": return .cpu
        case "auto": return VulkanDevice.automaticChoice().map { .vulkan(index: $0.index) } ?? .cpu
        default: break
        }
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.first == "vulkan", parts.count <= 2, let index = parts.count == 2 ? Int(parts[1]) : 0, index >= 0 else {
            throw ModelError(.deviceUnavailable, "--device \(argument) is not auto, cpu, vulkan or vulkan:N")
        }
        let devices: [VulkanDeviceInfo]
        do {
            devices = try VulkanDeviceInfo.all()
        } catch {
            throw ModelError(error)
        }
        guard devices.indices.contains(index) else {
            throw ModelError(.deviceUnavailable, devices.isEmpty
                ? "--device \(argument): no Vulkan device found; install a Vulkan driver (NVIDIA's, or mesa-vulkan-drivers) or use --device cpu"
                : "--device \(argument): this machine has Vulkan devices 0 to \(devices.count - 1): "
                    + devices.map { "\($0.index): \($0.summary)" }.joined(separator: "; "))
        }
        return .vulkan(index: index)
    }

    /// The device in words for logs: "cpu", or "vulkan:0, NVIDIA L4 (discrete GPU, 22.5 GiB, Vulkan 1.3.277)".
    public var summary: String {
        guard case .vulkan(let index) = self, let info = try? VulkanDeviceInfo.all().first(where: { $0.index == index }) else {
            return description
        }
        return "\(description), \(info.summary)"
    }

    /// Bytes of the device's own memory (its largest device-local heap), nil for the CPU.
    public var memoryBytes: Int? {
        guard case .vulkan(let index) = self else { return nil }
        return (try? VulkanDeviceInfo.all().first { $0.index == index })?.memoryBytes
    }
}

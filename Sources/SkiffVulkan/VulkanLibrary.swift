import CVulkan
#if canImport(Glibc)
import Glibc
#endif

/// The system's Vulkan loader (`libvulkan.so.1`), opened at run time so that one binary runs with or without
/// it, and one Vulkan instance over it for the whole process.
final class VulkanLibrary: @unchecked Sendable {
    let instance: VkInstance
    let getInstanceProcAddr: PFN_vkGetInstanceProcAddr
    let enumeratePhysicalDevices: PFN_vkEnumeratePhysicalDevices
    let getPhysicalDeviceProperties: PFN_vkGetPhysicalDeviceProperties
    let getPhysicalDeviceProperties2: PFN_vkGetPhysicalDeviceProperties2
    let getPhysicalDeviceFeatures2: PFN_vkGetPhysicalDeviceFeatures2
    let getPhysicalDeviceMemoryProperties: PFN_vkGetPhysicalDeviceMemoryProperties
    let getPhysicalDeviceQueueFamilyProperties: PFN_vkGetPhysicalDeviceQueueFamilyProperties
    let createDevice: PFN_vkCreateDevice
    let enumerateDeviceExtensionProperties: PFN_vkEnumerateDeviceExtensionProperties
    let getDeviceProcAddr: PFN_vkGetDeviceProcAddr

    /// The process's library and instance, or why there is none.
    static let shared: Result<VulkanLibrary, VulkanError> = Result { () throws(VulkanError) in try VulkanLibrary() }

    /// The Vulkan version Skiff's shaders are compiled for (SPIR-V 1.5).
    static let apiVersion: UInt32 = (1 << 22) | (2 << 12)

    private init() throws(VulkanError) {
        guard let handle = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL) ?? dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL) else {
            throw VulkanError(.unavailable, "the Vulkan loader (libvulkan.so.1) is not installed: apt-get install libvulkan1 and a driver (NVIDIA's, or mesa-vulkan-drivers)")
        }
        guard let symbol = dlsym(handle, "vkGetInstanceProcAddr") else {
            throw VulkanError(.unavailable, "libvulkan.so.1 has no vkGetInstanceProcAddr")
        }
        let getInstanceProcAddr = unsafeBitCast(symbol, to: PFN_vkGetInstanceProcAddr.self)
        self.getInstanceProcAddr = getInstanceProcAddr
        func global<F>(_ name: String, _ instance: VkInstance?) throws(VulkanError) -> F {
            guard let function = getInstanceProcAddr(instance, name) else {
                throw VulkanError(.unavailable, "the Vulkan loader lacks \(name); it is older than Vulkan 1.2")
            }
            return unsafeBitCast(function, to: F.self)
        }
        let createInstance: PFN_vkCreateInstance = try global("vkCreateInstance", nil)
        var instance: VkInstance?
        let result = "skiff".withCString { name in
            var application = VkApplicationInfo(sType: VK_STRUCTURE_TYPE_APPLICATION_INFO, pNext: nil, pApplicationName: name,
                                                applicationVersion: 1, pEngineName: name, engineVersion: 1, apiVersion: Self.apiVersion)
            return withUnsafePointer(to: &application) { application in
                var info = VkInstanceCreateInfo(sType: VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, pNext: nil, flags: 0,
                                                pApplicationInfo: application, enabledLayerCount: 0, ppEnabledLayerNames: nil,
                                                enabledExtensionCount: 0, ppEnabledExtensionNames: nil)
                return createInstance(&info, nil, &instance)
            }
        }
        guard result == VK_SUCCESS, let instance else {
            throw VulkanError(.unavailable, "no Vulkan 1.2 instance could be created (VkResult \(result.rawValue)); is a Vulkan driver installed (NVIDIA's, or mesa-vulkan-drivers)?")
        }
        self.instance = instance
        enumeratePhysicalDevices = try global("vkEnumeratePhysicalDevices", instance)
        getPhysicalDeviceProperties = try global("vkGetPhysicalDeviceProperties", instance)
        getPhysicalDeviceProperties2 = try global("vkGetPhysicalDeviceProperties2", instance)
        getPhysicalDeviceFeatures2 = try global("vkGetPhysicalDeviceFeatures2", instance)
        getPhysicalDeviceMemoryProperties = try global("vkGetPhysicalDeviceMemoryProperties", instance)
        getPhysicalDeviceQueueFamilyProperties = try global("vkGetPhysicalDeviceQueueFamilyProperties", instance)
        createDevice = try global("vkCreateDevice", instance)
        enumerateDeviceExtensionProperties = try global("vkEnumerateDeviceExtensionProperties", instance)
        getDeviceProcAddr = try global("vkGetDeviceProcAddr", instance)
    }

    /// The names of the extensions `device` supports.
    func extensions(of device: VkPhysicalDevice) throws(VulkanError) -> Set<String> {
        var count: UInt32 = 0
        try check(enumerateDeviceExtensionProperties(device, nil, &count, nil), "vkEnumerateDeviceExtensionProperties")
        var properties = [VkExtensionProperties](repeating: VkExtensionProperties(), count: Int(count))
        try check(enumerateDeviceExtensionProperties(device, nil, &count, &properties), "vkEnumerateDeviceExtensionProperties")
        return Set(properties.prefix(Int(count)).map { p in
            withUnsafeBytes(of: p.extensionName) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        })
    }

    /// The physical devices, in the loader's order (the N of `--device vulkan:N`).
    func physicalDevices() throws(VulkanError) -> [VkPhysicalDevice] {
        var count: UInt32 = 0
        try check(enumeratePhysicalDevices(instance, &count, nil), "vkEnumeratePhysicalDevices")
        var devices = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        try check(enumeratePhysicalDevices(instance, &count, &devices), "vkEnumeratePhysicalDevices")
        return devices.prefix(Int(count)).compactMap { $0 }
    }
}

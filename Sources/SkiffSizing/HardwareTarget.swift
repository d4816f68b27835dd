/// What one replica's GPUs are: whole GPUs, a MIG slice, a time-sliced share, or this machine's CPU.
public struct HardwareTarget: Sendable, Equatable {
    /// How the device is shared.
    public enum Sharing: Sendable, Equatable {
        /// Whole GPUs.
        case whole
        /// A MIG partition: isolated memory and compute.
        case mig(HardwareCatalog.MIGProfile)
        /// `replicas` pods take turns on one GPU, with no memory isolation.
        case timeSliced(replicas: Int)
    }

    /// The catalog name (`h100`, `cpu`).
    public var name: String
    /// The GPU's catalog entry; nil for `cpu`.
    public var gpu: HardwareCatalog.GPU?
    /// How the device is shared.
    public var sharing: Sharing
    /// Memory one replica's shard may use (before the utilization share).
    public var memoryBytes: Int
    /// Bandwidth in bytes per second.
    public var bandwidth: Double
    /// Dense bf16 FLOPS.
    public var bf16Flops: Double
    /// Dense 8-bit FLOPS (fp8, else int8, else bf16).
    public var eightBitFlops: Double
    /// Step-time figures measured on this machine, for `cpu`.
    public var measured: FittedStepTime?

    /// Whether this is Skiff's own CPU engine (which keeps every layer at full length).
    public var isCPU: Bool { gpu == nil }

    /// The Kubernetes resource one replica asks for, per GPU.
    public var resourceName: String {
        switch sharing {
        case .mig(let profile): "nvidia.com/mig-\(profile.name)"
        case .whole, .timeSliced: gpu?.resourceName ?? (isCPU ? "cpu" : "nvidia.com/gpu")
        }
    }

    /// Replicas one GPU holds.
    public var replicasPerGPU: Int {
        switch sharing {
        case .whole: 1
        case .mig(let profile): profile.maxInstances
        case .timeSliced(let replicas): replicas
        }
    }

    /// What the user must know about the sharing.
    public var warnings: [String] {
        guard case .timeSliced(let replicas) = sharing else { return [] }
        return ["time-slicing gives no memory isolation: \(replicas) replicas share one GPU's memory, so each must be started "
            + "with at most 1/\(replicas) of it (--gpu-memory-utilization in vLLM) or one replica's growth kills the others; "
            + "compute is shared too, so latency depends on the neighbours' load"]
    }

    /// Whole GPUs of the catalog entry `gpu`.
    public static func whole(_ gpu: HardwareCatalog.GPU) -> HardwareTarget {
        HardwareTarget(name: gpu.name, gpu: gpu, sharing: .whole, memoryBytes: gpu.memoryBytes, bandwidth: gpu.memoryBandwidthGbps * 1e9,
                       bf16Flops: gpu.bf16Tflops * 1e12, eightBitFlops: (gpu.fp8Tflops ?? gpu.int8Tflops ?? gpu.bf16Tflops) * 1e12, measured: nil)
    }

    /// The MIG slice `profile` of `gpu`: memory and bandwidth by memory slices of 8, compute by slices of 7.
    public static func mig(_ gpu: HardwareCatalog.GPU, profile name: String) throws(SizingError) -> HardwareTarget {
        guard let profile = gpu.migProfiles?.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            let known = gpu.migProfiles?.map(\.name).joined(separator: ", ")
            throw SizingError(.unknownHardware, known.map { "the \(gpu.name) has no MIG profile '\(name)'; it has \($0)" }
                ?? "the \(gpu.name) cannot be partitioned with MIG (A100, H100 and H200 can)")
        }
        return mig(gpu, profile)
    }

    static func mig(_ gpu: HardwareCatalog.GPU, _ profile: HardwareCatalog.MIGProfile) -> HardwareTarget {
        var target = whole(gpu)
        let memoryShare = Double(profile.memorySlices) / 8, computeShare = Double(profile.computeSlices) / 7
        target.name = "\(gpu.name) \(profile.name)"
        target.sharing = .mig(profile)
        target.memoryBytes = Int(Double(gpu.memoryBytes) * memoryShare)
        target.bandwidth *= memoryShare
        target.bf16Flops *= computeShare
        target.eightBitFlops *= computeShare
        return target
    }

    /// `replicas` replicas taking turns on one `gpu`: each gets 1/replicas of its memory and compute.
    public static func timeSliced(_ gpu: HardwareCatalog.GPU, replicas: Int) throws(SizingError) -> HardwareTarget {
        guard replicas >= 2 else { throw SizingError(.invalidOption, "--time-slicing needs 2 or more replicas per GPU") }
        var target = whole(gpu)
        target.name = "\(gpu.name) ÷\(replicas) (time-sliced)"
        target.sharing = .timeSliced(replicas: replicas)
        target.memoryBytes = gpu.memoryBytes / replicas
        target.bandwidth /= Double(replicas)
        target.bf16Flops /= Double(replicas)
        target.eightBitFlops /= Double(replicas)
        return target
    }

    /// This machine's CPU: the memory available now, as `skiff serve` sizes its cache from it (the kernel's
    /// `MemAvailable`, lowered to a container's cgroup limit), and measured step times.
    public static func cpu(memoryBytes: Int?, measured: FittedStepTime) throws(SizingError) -> HardwareTarget {
        guard let memory = memoryBytes ?? MachineMemory.available() else {
            throw SizingError(.unknownHardware, "cannot read MemAvailable from /proc/meminfo; pass --memory-bytes")
        }
        return HardwareTarget(name: "cpu", gpu: nil, sharing: .whole, memoryBytes: memory, bandwidth: 0, bf16Flops: 0,
                              eightBitFlops: 0, measured: measured)
    }
}

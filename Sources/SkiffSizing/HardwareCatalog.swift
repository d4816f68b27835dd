import Foundation

/// GPUs, their MIG profiles and the cloud instance types that carry them: the data `skiff plan` and
/// `skiff simulate` size against.
///
/// Built in (`builtIn`), and extended or overridden by a user's file in the same JSON format (`merging`).
public struct HardwareCatalog: Sendable, Equatable, Codable {
    /// One GPU model.
    public struct GPU: Sendable, Equatable, Codable {
        /// The name users type (`h100`), matched case-insensitively, as are `aliases`.
        public var name: String
        /// Other accepted names.
        public var aliases: [String]?
        /// A name for tables.
        public var displayName: String?
        /// Device memory in bytes.
        public var memoryBytes: Int
        /// Memory bandwidth in GB/s (10⁹ bytes per second).
        public var memoryBandwidthGbps: Double
        /// Dense bf16/fp16 tensor throughput in TFLOPS.
        public var bf16Tflops: Double
        /// Dense fp8 tensor throughput in TFLOPS, if the GPU has fp8.
        public var fp8Tflops: Double?
        /// Dense int8 tensor throughput in TOPS.
        public var int8Tflops: Double?
        /// MIG profiles, smallest first, for GPUs that can be partitioned.
        public var migProfiles: [MIGProfile]?
        /// The Kubernetes extended resource that schedules it (default `nvidia.com/gpu`).
        public var resourceName: String?

        /// Whether `name` names this GPU.
        func answers(to name: String) -> Bool {
            let wanted = name.lowercased()
            return self.name.lowercased() == wanted || (aliases ?? []).contains { $0.lowercased() == wanted }
        }
    }

    /// A MIG partition of a GPU (`3g.40gb`): a share of its compute and memory, isolated.
    public struct MIGProfile: Sendable, Equatable, Codable {
        /// The profile's name as `nvidia-smi mig` prints it.
        public var name: String
        /// Compute slices out of 7.
        public var computeSlices: Int
        /// Memory slices out of 8 (bandwidth follows memory).
        public var memorySlices: Int
        /// How many instances of this profile one GPU holds.
        public var maxInstances: Int
    }

    /// A cloud instance type.
    public struct Instance: Sendable, Equatable, Codable {
        /// The provider's name for it (`g6e.12xlarge`).
        public var name: String
        /// The GPU's catalog name.
        public var gpu: String
        /// GPUs per node.
        public var gpus: Int
        /// On-demand price per node-hour, US dollars.
        public var onDemandUsdPerHour: Double
        /// A typical spot price per node-hour, US dollars.
        public var spotUsdPerHour: Double?
    }

    /// When the prices were taken (`2025-07`).
    public var priceDate: String?
    /// GPUs.
    public var gpus: [GPU]
    /// Instance types.
    public var instances: [Instance]

    /// The catalog compiled into Skiff.
    public static let builtIn: HardwareCatalog = {
        do {
            return try HardwareCatalog(json: Data(builtInJSON.utf8), source: "the built-in catalog")
        } catch {
            preconditionFailure("the built-in catalog does not parse: \(error)")
        }
    }()

    /// Parses a catalog in the JSON format of `builtInJSON`.
    public init(json: Data, source: String) throws(SizingError) {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            self = try decoder.decode(HardwareCatalog.self, from: json)
        } catch let DecodingError.keyNotFound(key, context) {
            throw SizingError(.catalog, "\(source): \(Self.path(context.codingPath)) lacks '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw SizingError(.catalog, "\(source): \(Self.path(context.codingPath)) has the wrong type: \(context.debugDescription)")
        } catch {
            throw SizingError(.catalog, "\(source) is not a catalog: \(error)")
        }
        for gpu in gpus where gpu.memoryBytes <= 0 || gpu.memoryBandwidthGbps <= 0 || gpu.bf16Tflops <= 0 {
            throw SizingError(.catalog, "\(source): GPU '\(gpu.name)' needs positive memory_bytes, memory_bandwidth_gbps and bf16_tflops")
        }
        for instance in instances where instance.gpus < 1 || instance.onDemandUsdPerHour < 0 {
            throw SizingError(.catalog, "\(source): instance '\(instance.name)' needs gpus ≥ 1 and a price ≥ 0")
        }
    }

    /// This catalog with `other`'s entries added; an entry whose name is already known replaces the old one.
    public func merging(_ other: HardwareCatalog) -> HardwareCatalog {
        var merged = self
        for gpu in other.gpus {
            merged.gpus.removeAll { $0.name.lowercased() == gpu.name.lowercased() }
            merged.gpus.append(gpu)
        }
        for instance in other.instances {
            merged.instances.removeAll { $0.name == instance.name }
            merged.instances.append(instance)
        }
        merged.priceDate = other.priceDate ?? priceDate
        return merged
    }

    /// The GPU called `name` (case-insensitive), or an error listing the known ones.
    public func gpu(named name: String) throws(SizingError) -> GPU {
        guard let gpu = gpus.first(where: { $0.answers(to: name) }) else {
            throw SizingError(.unknownHardware, "unknown GPU '\(name)'; known: \(gpus.map(\.name).joined(separator: ", ")), cpu (or add it with --catalog FILE)")
        }
        return gpu
    }

    /// The instance types that carry `gpu`, fewest GPUs first.
    public func instances(carrying gpu: GPU) -> [Instance] {
        instances.filter { gpu.answers(to: $0.gpu) }.sorted { ($0.gpus, $0.onDemandUsdPerHour) < ($1.gpus, $1.onDemandUsdPerHour) }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.isEmpty ? "the top level" : codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

import ArgumentParser
import Foundation
import SkiffGGUF
import SkiffHyperparameters
import SkiffModelStore
import SkiffModels
import SkiffSizing

/// The inputs `skiff plan` and `skiff simulate` share: the model's shape, the catalog, the hardware.
struct SizingInputs {
    var model: ModelShape
    var catalog: HardwareCatalog
    /// Whether the model came from a config.json (so its precision defaults to bf16).
    var fromConfig: Bool
    /// What Skiff's runner holds on a GPU besides weights and cache, for a GGUF file of an architecture it runs.
    var deviceScratch: DeviceScratch?

    static var builtInCatalogJSON: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(HardwareCatalog.builtIn)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Reads the model (GGUF metadata or config.json) and the catalog with the user's file merged in.
    init(model name: String, modelDir: String?, catalog file: String?) throws {
        var isDirectory: ObjCBool = false
        let configPath: String? = if name.hasSuffix(".json") {
            name
        } else if FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory), isDirectory.boolValue {
            (name as NSString).appendingPathComponent("config.json")
        } else {
            nil
        }
        if let configPath {
            guard let data = FileManager.default.contents(atPath: configPath) else {
                throw ValidationError("cannot read \(configPath)")
            }
            let label = configPath.split(separator: "/").suffix(2).joined(separator: "/")
            model = try ModelShape(huggingFaceConfig: data, name: label)
            fromConfig = true
        } else {
            let path = try ModelStore(explicitPath: modelDir).resolve(name).path
            model = try ModelShape(ggufPath: path)
            fromConfig = false
            deviceScratch = try? ModelArchitectures.deviceScratch(of: GGUFFile(path: path))
        }
        catalog = HardwareCatalog.builtIn
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read the catalog \(file)") }
            catalog = catalog.merging(try HardwareCatalog(json: data, source: file))
        }
    }

    /// The hardware a replica runs on.
    func hardware(gpu: String, mig: String?, timeSlicing: Int?, cpuProfile: String?, memoryBytes: Int?) throws -> HardwareTarget {
        if gpu.lowercased() == "cpu" {
            guard mig == nil, timeSlicing == nil else { throw ValidationError("--mig and --time-slicing need a GPU") }
            let profile = try cpuProfile.map { try CPUProfile(contentsOf: $0) } ?? .defaultModel
            return try .cpu(memoryBytes: memoryBytes, measured: profile.stepTime)
        }
        let entry = try catalog.gpu(named: gpu)
        guard mig == nil || timeSlicing == nil else { throw ValidationError("choose --mig or --time-slicing, not both") }
        if let mig { return try .mig(entry, profile: mig) }
        if let timeSlicing { return try .timeSliced(entry, replicas: timeSlicing) }
        return .whole(entry)
    }

    /// The weight precision: as asked, else as stored (GGUF) or bf16 (config.json).
    static func weightPrecision(_ text: String?, model: ModelShape) throws -> WeightPrecision? {
        guard let text else { return model.storedWeightsBytes == nil ? .bf16 : nil }
        guard let precision = WeightPrecision(rawValue: text.lowercased()) else {
            throw ValidationError("--precision must be one of \(WeightPrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return precision
    }

    /// The context per request: as asked, else the model's.
    static func context(_ asked: Int?, model: ModelShape) throws -> Int {
        if let asked {
            guard asked >= 1 else { throw ValidationError("--context must be at least 1") }
            return asked
        }
        guard model.contextLength < Int(Int32.max) else {
            throw ValidationError("\(model.name) does not say its context length; pass --context")
        }
        return model.contextLength
    }

    /// `MEAN` or `MEAN,P95` token counts.
    static func meanAndP95(_ text: String, option: String) throws -> (mean: Int, p95: Int) {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (1 ... 2).contains(parts.count), let mean = parts[0], mean >= 1, let p95 = parts.count == 2 ? parts[1] : mean, p95 >= mean else {
            throw ValidationError("\(option) takes MEAN or MEAN,P95 in tokens (P95 ≥ MEAN ≥ 1), not '\(text)'")
        }
        return (mean, p95)
    }
}

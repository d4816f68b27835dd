import SkiffGGUF

/// The sampling settings a model file recommends (`general.sampling.*`, the keys llama.cpp's converter
/// writes from a model's `generation_config.json`).
public struct SamplingRecommendation: Sendable {
    /// The settings Skiff applies: temperature, top-k, top-p and min-p.
    public var settings: SamplingOverrides
    /// The file's other `general.sampling.*` keys with their values (repetition penalty, mirostat, XTC, a
    /// sampler order): Skiff does not implement them, so they are reported, not applied.
    public var notApplied: [(key: String, value: String)]

    /// Reads the recommendation; a key Skiff applies that holds no number, or a number out of range, is
    /// an error naming the key and the value.
    public init(metadata: GGUFMetadata) throws(ModelFileError) {
        func number(_ key: String) throws(ModelFileError) -> Double? {
            guard let value = metadata[key] else { return nil }
            guard let number = value.double, number.isFinite else {
                throw ModelFileError(.model, "GGUF key '\(key)' is \(value); it must be a finite number")
            }
            return number
        }
        settings = SamplingOverrides(
            temperature: try number(Self.temperatureKey).map(Float.init),
            topK: try number(Self.topKKey).map { $0 <= 0 ? 0 : Int(min($0.rounded(), Double(Int32.max))) },
            topP: try number(Self.topPKey).map(Float.init),
            minP: try number(Self.minPKey).map(Float.init))
        if let (name, requirement) = settings.rangeProblem() {
            let key = Self.appliedKeys.first { $0.name == name }?.key ?? name
            throw ModelFileError(.model, "GGUF key '\(key)' is \(metadata[key].map { "\($0)" } ?? "?"); it must be \(requirement)")
        }
        let applied = Set(Self.appliedKeys.map(\.key))
        notApplied = metadata.keys.filter { $0.hasPrefix("general.sampling.") && !applied.contains($0) }
            .map { key in (key, metadata[key].map { "\($0)" } ?? "") }
    }

    /// The settings in force when a request names none: `overrides` (the server's own settings), then
    /// this recommendation, then llama.cpp's defaults.
    public func defaults(overriddenBy overrides: SamplingOverrides) -> SamplingParameters {
        overrides.applied(to: settings.applied(to: .llamaCppDefaults))
    }

    static let temperatureKey = "general.sampling.temp"
    static let topKKey = "general.sampling.top_k"
    static let topPKey = "general.sampling.top_p"
    static let minPKey = "general.sampling.min_p"

    /// The keys Skiff applies, by the OpenAI field name of their setting.
    private static let appliedKeys = [
        (name: "temperature", key: temperatureKey), (name: "top_k", key: topKKey), (name: "top_p", key: topPKey),
        (name: "min_p", key: minPKey),
    ]
}

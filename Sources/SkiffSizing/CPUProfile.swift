import Foundation

/// Step times measured on a CPU for one model: what `skiff plan --gpu cpu` and `skiff simulate` use
/// instead of a roofline.
///
/// Written by `skiff simulate calibrate` (a JSON file); the built-in profile is the default model on the
/// project's reference machine (2 cores), see `docs/sizing.md`.
public struct CPUProfile: Sendable, Equatable, Codable {
    /// The model measured.
    public var model: String
    /// Compute threads.
    public var threads: Int
    /// How and when it was measured.
    public var source: String
    /// The fitted step times.
    public var stepTime: FittedStepTime

    /// Creates a profile.
    public init(model: String, threads: Int, source: String, stepTime: FittedStepTime) {
        self.model = model
        self.threads = threads
        self.source = source
        self.stepTime = stepTime
    }

    /// The default model (SmolLM2-135M Q4_1) with 2 threads on the reference machine, from `skiff bench-engine`
    /// (pp64 1263 tok/s, pp512 931 tok/s, tg128 327 tok/s, tg256 297 tok/s). One-sequence runs cannot separate
    /// the fixed cost of a step from its per-token cost; 2 ms fixed is assumed until a calibration against
    /// batched `skiff serve` runs replaces it.
    public static let defaultModel = CPUProfile(
        model: "SmolLM2-135M-Instruct.Q4_1", threads: 2,
        source: "skiff bench-engine on the 2-core reference machine, 2026-11-25; fixed/per-token split assumed",
        stepTime: FittedStepTime(fixedSeconds: 0.002, secondsPerToken: 0.000717, secondsPerSequence: 0.000013,
                                 secondsPerPrefillAttended: 0.00000138, secondsPerDecodeAttended: 0.000005))

    /// Reads a profile written by `skiff simulate calibrate`.
    public init(contentsOf path: String) throws(SizingError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SizingError(.input, "cannot read the CPU profile \(path)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            self = try decoder.decode(CPUProfile.self, from: data)
        } catch {
            throw SizingError(.input, "\(path) is not a CPU profile (model, threads, source, step_time): \(error)")
        }
    }
}

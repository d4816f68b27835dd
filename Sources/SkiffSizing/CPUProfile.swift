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

    /// The default model (SmolLM2-135M Q4_1) with 2 threads on the 2-core reference machine: the fit of
    /// `skiff simulate calibrate docs/sizing/calibration` (six fixed-concurrency `skiff bench` runs against
    /// `skiff serve`, concurrency 1/4/16 × prompts of 135 and 867 tokens, 128 output tokens; 2026-11-25).
    public static let defaultModel = CPUProfile(
        model: "SmolLM2-135M-Instruct.Q4_1", threads: 2,
        source: "skiff simulate calibrate docs/sizing/calibration on the 2-core reference machine, 2026-11-25",
        stepTime: FittedStepTime(fixedSeconds: 0.00258, secondsPerToken: 0.000652, secondsPerSequence: 0.000107,
                                 secondsPerPrefillAttended: 1.53e-06, secondsPerDecodeAttended: 2.89e-06,
                                 requestOverheadSeconds: 0.0229))

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

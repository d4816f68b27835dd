/// One `skiff bench` run at a fixed concurrency: what was sent and what was measured.
public struct CalibrationRun: Sendable, Equatable, Codable {
    /// Requests in flight (closed loop: each worker sends its next request when the previous one ends).
    public var concurrency: Int
    /// Requests completed.
    public var requests: Int
    /// Prompt tokens per request, as the server counted them (chat template included).
    public var promptTokens: Int
    /// Output tokens per request (the bench asks for exactly this many).
    public var outputTokens: Int
    /// Measured mean time to first token, seconds.
    public var meanTimeToFirstTokenSeconds: Double
    /// Measured mean time per output token, seconds.
    public var meanTimePerOutputTokenSeconds: Double
    /// Measured time from the first request sent to the last one finished, seconds.
    public var durationSeconds: Double

    /// Creates a run.
    public init(concurrency: Int, requests: Int, promptTokens: Int, outputTokens: Int, meanTimeToFirstTokenSeconds: Double,
                meanTimePerOutputTokenSeconds: Double, durationSeconds: Double) {
        self.concurrency = concurrency
        self.requests = requests
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.meanTimeToFirstTokenSeconds = meanTimeToFirstTokenSeconds
        self.meanTimePerOutputTokenSeconds = meanTimePerOutputTokenSeconds
        self.durationSeconds = durationSeconds
    }
}

/// Fits a CPU step-time model (`FittedStepTime`) to fixed-concurrency `skiff bench` runs against `skiff serve`.
///
/// Each run is replayed step by step through the simulator's replica (the same admission and chunking rules as
/// the engine). In a closed loop the sequence of steps does not depend on how long they take: a finished
/// request's successor reaches the server while the next step is already computing and joins the one after.
/// So every measured quantity is a sum of step times, and a step's time is linear in the five figures
/// (fixed, per token, per decoding sequence, per attended position of prompt and decode tokens), plus a
/// constant per request outside the steps (HTTP, template, tokenizer) that only time to first token sees. Three
/// equations per run — mean TTFT, mean TPOT and the run's duration, each divided by its measured value so
/// that every one counts by its relative error — are solved by least squares with non-negative figures.
public enum CPUCalibration {
    /// A fitted model and how well it reproduces the runs it was fitted to.
    public struct Fit: Sendable, Equatable {
        /// One run, measured and as the fitted model replays it.
        public struct Check: Sendable, Equatable {
            /// The run.
            public var run: CalibrationRun
            /// Replayed mean time to first token, seconds.
            public var meanTimeToFirstTokenSeconds: Double
            /// Replayed mean time per output token, seconds.
            public var meanTimePerOutputTokenSeconds: Double
            /// Replayed duration, seconds.
            public var durationSeconds: Double
        }

        /// The figures.
        public var stepTime: FittedStepTime
        /// The runs, replayed with them.
        public var checks: [Check]
    }

    /// Fits the figures to `runs` (at least two prompt lengths and two concurrencies are needed to tell the
    /// terms apart; figures the runs cannot support come out as zero).
    public static func fit(_ runs: [CalibrationRun], limits: ServeLimits) throws(SizingError) -> Fit {
        guard !runs.isEmpty else { throw SizingError(.input, "no calibration runs: measure fixed-concurrency `skiff bench` runs first") }
        var rows: [[Double]] = []
        var replays: [Replay] = []
        for run in runs {
            guard run.concurrency >= 1, run.requests >= 1, run.promptTokens >= 1, run.outputTokens >= 2,
                  run.meanTimeToFirstTokenSeconds > 0, run.meanTimePerOutputTokenSeconds > 0, run.durationSeconds > 0
            else {
                throw SizingError(.input, "a calibration run needs concurrency, requests, prompt tokens ≥ 1, output tokens ≥ 2 and positive times; got \(run)")
            }
            let replay = Replay(run, limits: limits)
            replays.append(replay)
            rows.append(replay.timeToFirstToken.map { $0 / run.meanTimeToFirstTokenSeconds })
            rows.append(replay.timePerOutputToken.map { $0 / run.meanTimePerOutputTokenSeconds })
            rows.append(replay.duration.map { $0 / run.durationSeconds })
        }
        let theta = nonNegativeLeastSquares(rows, targets: Array(repeating: 1, count: rows.count))
        let stepTime = FittedStepTime(fixedSeconds: theta[0], secondsPerToken: theta[1], secondsPerSequence: theta[2],
                                      secondsPerPrefillAttended: theta[3], secondsPerDecodeAttended: theta[4],
                                      requestOverheadSeconds: theta[5])
        let checks = zip(runs, replays).map { run, replay in
            Fit.Check(run: run, meanTimeToFirstTokenSeconds: dot(replay.timeToFirstToken, theta),
                      meanTimePerOutputTokenSeconds: dot(replay.timePerOutputToken, theta), durationSeconds: dot(replay.duration, theta))
        }
        return Fit(stepTime: stepTime, checks: checks)
    }

    /// The features of a step, in the order of `FittedStepTime`'s figures (the last, the request overhead, is no
    /// part of a step).
    static func features(_ step: StepShape) -> [Double] {
        [1, Double(step.tokens), Double(step.decodeSequences), Double(step.prefillAttended), Double(step.decodeAttended), 0]
    }

    /// A closed-loop run replayed step by step: the step features each measured mean is the sum of.
    struct Replay {
        var timeToFirstToken = [Double](repeating: 0, count: 6)
        var timePerOutputToken = [Double](repeating: 0, count: 6)
        var duration = [Double](repeating: 0, count: 6)

        init(_ run: CalibrationRun, limits: ServeLimits) {
            var replica = SimulatedReplica(configuration: .init(
                maxStepTokens: limits.maxStepTokens, maxRunning: limits.maxRunning, maxWaiting: Int.max,
                contextLength: limits.contextLength, blockSize: limits.blockSize, cacheBlocks: limits.cacheBlocks, blockGroups: limits.blockGroups,
                stepTime: .fitted(FittedStepTime(fixedSeconds: 0, secondsPerToken: 0, secondsPerSequence: 0,
                                                 secondsPerPrefillAttended: 0, secondsPerDecodeAttended: 0))))
            var steps: [[Double]] = []
            var arrivalStep: [Int] = [], firstStep: [Int] = [], lastStep: [Int] = []
            func send(at step: Int, into replica: inout SimulatedReplica) {
                let id = arrivalStep.count
                arrivalStep.append(step)
                firstStep.append(-1)
                lastStep.append(-1)
                _ = replica.add(request: id, prompt: run.promptTokens, output: run.outputTokens)
            }
            for _ in 0 ..< min(run.concurrency, run.requests) { send(at: 0, into: &replica) }
            var successors = 0, completed = 0
            while completed < run.requests {
                // Successors reach an idle server before its next step, a busy one while that step computes.
                if replica.isIdle {
                    for _ in 0 ..< successors { send(at: steps.count, into: &replica) }
                    successors = 0
                }
                guard let shape = replica.planStep() else { break }
                for _ in 0 ..< successors { send(at: steps.count, into: &replica) }
                successors = 0
                let index = steps.count
                steps.append(CPUCalibration.features(shape))
                for token in replica.finishStep() {
                    if token.first { firstStep[token.request] = index }
                    guard token.finished else { continue }
                    lastStep[token.request] = index
                    completed += 1
                    if arrivalStep.count < run.requests { successors += 1 }
                }
            }
            // Prefix sums make each request's span of steps one subtraction.
            var prefix = [[Double]](repeating: [0, 0, 0, 0, 0, 0], count: steps.count + 1)
            for (index, step) in steps.enumerated() {
                prefix[index + 1] = zip(prefix[index], step).map(+)
            }
            func span(_ from: Int, _ through: Int) -> [Double] { zip(prefix[through + 1], prefix[from]).map(-) }
            var finished = 0
            for id in arrivalStep.indices where lastStep[id] >= 0 {
                finished += 1
                timeToFirstToken = zip(timeToFirstToken, span(arrivalStep[id], firstStep[id])).map(+)
                let tail = lastStep[id] > firstStep[id] ? span(firstStep[id] + 1, lastStep[id]) : [0, 0, 0, 0, 0, 0]
                timePerOutputToken = zip(timePerOutputToken, tail.map { $0 / Double(run.outputTokens - 1) }).map(+)
            }
            let count = Double(max(finished, 1))
            timeToFirstToken = timeToFirstToken.map { $0 / count }
            timePerOutputToken = timePerOutputToken.map { $0 / count }
            duration = prefix[steps.count]
            // Every request waits the overhead before its first token. With one worker the engine idles meanwhile,
            // so the run lasts that much longer per request; with more, the others' steps fill the time.
            timeToFirstToken[5] = 1
            duration[5] = run.concurrency == 1 ? Double(run.requests) : 0
        }
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

/// Least squares `rows · x ≈ targets` with `x ≥ 0`: unconstrained solves on a shrinking set of free figures
/// (the most negative one is fixed at zero until none is negative). Columns are scaled to unit size first.
func nonNegativeLeastSquares(_ rows: [[Double]], targets: [Double]) -> [Double] {
    let n = rows.first?.count ?? 0
    let scale = (0 ..< n).map { column in max(rows.map { abs($0[column]) }.max() ?? 0, .leastNonzeroMagnitude) }
    var free = Array(0 ..< n).filter { column in rows.contains { $0[column] != 0 } }
    var x = [Double](repeating: 0, count: n)
    while !free.isEmpty {
        // Normal equations over the free columns.
        let m = free.count
        var a = [[Double]](repeating: [Double](repeating: 0, count: m + 1), count: m)
        for (row, target) in zip(rows, targets) {
            let scaled = free.map { row[$0] / scale[$0] }
            for i in 0 ..< m {
                for j in 0 ..< m { a[i][j] += scaled[i] * scaled[j] }
                a[i][m] += scaled[i] * target
            }
        }
        // A whisper of ridge keeps collinear figures (say, runs that never vary one term) solvable.
        for i in 0 ..< m { a[i][i] += 1e-9 }
        guard let solution = solve(a) else { break }
        if let worst = solution.indices.min(by: { solution[$0] < solution[$1] }), solution[worst] < 0 {
            free.remove(at: worst)
            continue
        }
        x = [Double](repeating: 0, count: n)
        for (i, column) in free.enumerated() { x[column] = solution[i] / scale[column] }
        break
    }
    return x
}

/// Solves the augmented system `a` (m rows of m coefficients and a right-hand side) by Gaussian elimination
/// with partial pivoting; nil when it is singular.
private func solve(_ augmented: [[Double]]) -> [Double]? {
    var a = augmented
    let m = a.count
    for column in 0 ..< m {
        guard let pivot = (column ..< m).max(by: { abs(a[$0][column]) < abs(a[$1][column]) }), abs(a[pivot][column]) > 1e-12 else {
            return nil
        }
        a.swapAt(column, pivot)
        for row in 0 ..< m where row != column {
            let factor = a[row][column] / a[column][column]
            guard factor != 0 else { continue }
            for k in column ... m { a[row][k] -= factor * a[column][k] }
        }
    }
    return (0 ..< m).map { a[$0][m] / a[$0][$0] }
}

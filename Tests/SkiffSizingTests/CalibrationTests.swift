@testable import SkiffSizing
import Testing

@Suite struct CalibrationTests {
    let limits = ServeLimits(maxStepTokens: 512, maxRunning: 16, maxWaiting: 64, contextLength: 8192, cacheBlocks: 2912)
    let truth = FittedStepTime(fixedSeconds: 0.0025, secondsPerToken: 0.0007, secondsPerSequence: 0.00004,
                               secondsPerPrefillAttended: 0.0000012, secondsPerDecodeAttended: 0.000004, requestOverheadSeconds: 0.02)

    /// What `skiff bench` would measure if the server's steps took exactly `truth`.
    func measured(concurrency: Int, prompt: Int) -> CalibrationRun {
        let shape = CalibrationRun(concurrency: concurrency, requests: concurrency * 3, promptTokens: prompt, outputTokens: 64,
                                   meanTimeToFirstTokenSeconds: 1, meanTimePerOutputTokenSeconds: 1, durationSeconds: 1)
        let replay = CPUCalibration.Replay(shape, limits: limits)
        let theta = [truth.fixedSeconds, truth.secondsPerToken, truth.secondsPerSequence, truth.secondsPerPrefillAttended,
                     truth.secondsPerDecodeAttended, truth.requestOverheadSeconds]
        var run = shape
        run.meanTimeToFirstTokenSeconds = dot(replay.timeToFirstToken, theta)
        run.meanTimePerOutputTokenSeconds = dot(replay.timePerOutputToken, theta)
        run.durationSeconds = dot(replay.duration, theta)
        return run
    }

    @Test func recoversTheStepTimeOfExactRuns() throws {
        let runs = [128, 1024].flatMap { prompt in [1, 4, 16].map { measured(concurrency: $0, prompt: prompt) } }
        let fit = try CPUCalibration.fit(runs, limits: limits)
        let f = fit.stepTime
        for (got, want) in [(f.fixedSeconds, truth.fixedSeconds), (f.secondsPerToken, truth.secondsPerToken),
                            (f.secondsPerSequence, truth.secondsPerSequence), (f.secondsPerPrefillAttended, truth.secondsPerPrefillAttended),
                            (f.secondsPerDecodeAttended, truth.secondsPerDecodeAttended), (f.requestOverheadSeconds, truth.requestOverheadSeconds)] {
            #expect(abs(got / want - 1) < 0.01, "fitted \(got), true \(want)")
        }
        for check in fit.checks {
            #expect(abs(check.meanTimePerOutputTokenSeconds / check.run.meanTimePerOutputTokenSeconds - 1) < 0.001)
        }
    }

    @Test func replayOfOneSequenceIsPrefillThenDecodes() {
        // One request of 100 prompt tokens and 5 output tokens, alone: one prefill step, then 4 decodes.
        let run = CalibrationRun(concurrency: 1, requests: 1, promptTokens: 100, outputTokens: 5, meanTimeToFirstTokenSeconds: 1,
                                 meanTimePerOutputTokenSeconds: 1, durationSeconds: 1)
        let replay = CPUCalibration.Replay(run, limits: limits)
        #expect(replay.timeToFirstToken[0] == 1)
        #expect(replay.timeToFirstToken[1] == 100)
        #expect(replay.timeToFirstToken[5] == 1)
        #expect(replay.duration[0] == 5)
        #expect(replay.duration[2] == 4)
        // Decodes attend 101, 102, 103, 104 positions; per output token after the first: a quarter of that.
        #expect(replay.timePerOutputToken[4] == Double(101 + 102 + 103 + 104) / 4)
    }

    @Test func negativeFiguresAreHeldAtZero() {
        // y = 2a − b exactly would need b < 0; the constrained fit keeps b at 0.
        let rows: [[Double]] = [[1, 1], [2, 1], [3, 1]]
        let x = nonNegativeLeastSquares(rows, targets: [1, 3, 5])
        #expect(x[1] == 0)
        #expect(x[0] > 1.5)
    }

    @Test func noRunsIsAnError() {
        #expect(throws: SizingError.self) { try CPUCalibration.fit([], limits: limits) }
    }
}

import Testing
@testable import SkiffBench

@Suite struct StatisticsTests {
    @Test func percentilesInterpolateLikeNumPy() {
        let summary = LatencySummary((1...10).map(Double.init).reversed())
        #expect(summary.count == 10)
        #expect(summary.mean == 5.5)
        #expect(summary.median == 5.5)
        #expect(abs(summary.p90 - 9.1) < 1e-9)
        #expect(abs(summary.p95 - 9.55) < 1e-9)
        #expect(abs(summary.p99 - 9.91) < 1e-9)
        #expect(abs(summary.standardDeviation - 8.25.squareRoot()) < 1e-9)
        #expect(LatencySummary.percentile(0, ofSorted: [2, 4]) == 2)
        #expect(LatencySummary.percentile(100, ofSorted: [2, 4]) == 4)
        #expect(LatencySummary.percentile(25, ofSorted: [2, 4]) == 2.5)
    }

    @Test func oneValueAndNoValues() {
        let one = LatencySummary([42])
        #expect(one.median == 42 && one.p99 == 42 && one.mean == 42 && one.standardDeviation == 0)
        let none = LatencySummary([])
        #expect(none.count == 0 && none.mean == 0 && none.p99 == 0)
    }

    @Test func timePerOutputTokenExcludesTheFirstToken() {
        let start = ContinuousClock.now
        var timeline = RequestTimeline(sentAt: start)
        timeline.receivedContent(at: start + .milliseconds(100))
        timeline.receivedContent(at: start + .milliseconds(130))
        timeline.receivedContent(at: start + .milliseconds(190))
        timeline.receivedUsage(promptTokens: 12, completionTokens: 4)
        let metrics = try? timeline.finished(at: start + .milliseconds(400)).outcome.get()
        #expect(metrics?.timeToFirstToken == .milliseconds(100))
        #expect(metrics?.interTokenLatencies == [.milliseconds(30), .milliseconds(60)])
        #expect(metrics?.endToEndLatency == .milliseconds(400))
        #expect(metrics?.outputTokens == 4)
        #expect(metrics?.timePerOutputToken == .milliseconds(100))
    }

    @Test func aStreamWithoutTextIsAFailure() {
        let start = ContinuousClock.now
        let record = RequestTimeline(sentAt: start).finished(at: start + .milliseconds(5))
        guard case .failure(let error) = record.outcome else {
            Issue.record("an empty stream counted as a success")
            return
        }
        #expect(error.kind == .emptyOutput)
    }
}

@Suite struct ScheduleTests {
    @Test func poissonScheduleIsReproducibleFromItsSeed() throws {
        let load = LoadPattern.poisson(requestsPerSecond: 4, seed: 42)
        let first = try #require(load.arrivalOffsets(count: 2000))
        #expect(first == load.arrivalOffsets(count: 2000))
        #expect(first != LoadPattern.poisson(requestsPerSecond: 4, seed: 43).arrivalOffsets(count: 2000))
        #expect(first.first == .zero)
        #expect(zip(first, first.dropFirst()).allSatisfy { $0 <= $1 })
        // 1999 exponential gaps with mean 0.25 s: their mean is within a few percent of it.
        let meanGap = (try #require(first.last)).inSeconds / 1999
        #expect(meanGap > 0.2 && meanGap < 0.3)
        #expect(LoadPattern.concurrency(4).arrivalOffsets(count: 10) == nil)
    }

    @Test func seededGeneratorIsStable() {
        var a = SeededGenerator(seed: 1)
        var b = SeededGenerator(seed: 1)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        // SplitMix64's published first output for seed 1.
        #expect(SeededGenerator(seed: 1).nextValue() == 0x910A_2DEC_8902_5CC1)
        var unit = SeededGenerator(seed: 9)
        #expect((0..<1000).allSatisfy { _ in (0..<1).contains(unit.nextUnitInterval()) })
    }
}

private extension SeededGenerator {
    /// The first value of a fresh generator.
    func nextValue() -> UInt64 {
        var copy = self
        return copy.next()
    }
}

import Foundation
import SkiffScheduling
@testable import SkiffSizing
import Testing

/// A step costs 1 s per token, so step times count tokens.
let tokenClock = StepTimeModel.fitted(FittedStepTime(fixedSeconds: 0, secondsPerToken: 1, secondsPerSequence: 0,
                                                     secondsPerPrefillAttended: 0, secondsPerDecodeAttended: 0))
/// A small CPU-like replica: 10 ms per step plus 1 ms per token.
let smallReplica = StepTimeModel.fitted(FittedStepTime(fixedSeconds: 0.01, secondsPerToken: 0.001, secondsPerSequence: 0,
                                                       secondsPerPrefillAttended: 0, secondsPerDecodeAttended: 0))

func replica(stepTokens: Int = 10, running: Int = 4, waiting: Int = 8, blocks: Int = 100) -> SimulatedReplica {
    SimulatedReplica(configuration: .init(maxStepTokens: stepTokens, maxRunning: running, maxWaiting: waiting, contextLength: 1000,
                                          blockSize: 16, cacheBlocks: blocks, blockGroups: KVBlockPool.fullAttention, stepTime: tokenClock))
}

@Suite struct ReplicaRuleTests {
    @Test func fullQueueRefuses() {
        var r = replica(waiting: 2)
        let added7 = r.add(request: 0, prompt: 5, output: 1)
        #expect(added7)
        let added8 = r.add(request: 1, prompt: 5, output: 1)
        #expect(added8)
        let refused = !r.add(request: 2, prompt: 5, output: 1)
        #expect(refused)
    }

    @Test func stepBudgetChunksPromptsAndAdmitsOldestFirst() {
        var r = replica(stepTokens: 10)
        _ = r.add(request: 0, prompt: 8, output: 3)
        _ = r.add(request: 1, prompt: 8, output: 3)
        // 8 tokens of the first prompt and a 2-token chunk of the second.
        let step1 = r.startStep()
        #expect(step1 == 10)
        let first = r.finishStep()
        #expect(first.map(\.request) == [0])
        #expect(first.first?.first == true)
        // One decode for the first, the remaining 6 prompt tokens of the second.
        let step2 = r.startStep()
        #expect(step2 == 7)
        let second = r.finishStep().map(\.request)
        #expect(second == [0, 1])
    }

    @Test func maxRunningHoldsTheRestInTheQueue() {
        var r = replica(stepTokens: 100, running: 2)
        for id in 0 ..< 3 { _ = r.add(request: id, prompt: 4, output: 5) }
        let step3 = r.startStep()
        #expect(step3 == 8)
        #expect(r.runningCount == 2)
        #expect(r.waitingCount == 1)
    }

    @Test func runningOutOfBlocksPreemptsTheNewest() {
        // Two blocks of 16: two 16-token prompts fill them; the first decode needs a third block.
        var r = replica(stepTokens: 100, blocks: 2)
        _ = r.add(request: 0, prompt: 16, output: 4)
        _ = r.add(request: 1, prompt: 16, output: 4)
        _ = r.startStep()
        _ = r.finishStep()
        let step4 = r.startStep()
        #expect(step4 == 1)
        #expect(r.preemptions == 1)
        #expect(r.runningRequests == [0])
        #expect(r.waitingRequests == [1])
        // Recomputed later from its prompt and generated token: 17 tokens.
        _ = r.finishStep()
        while r.runningRequests.contains(0) {
            _ = r.startStep()
            _ = r.finishStep()
        }
        let step5 = r.startStep()
        #expect(step5 == 17)
    }
}

@Suite struct ReplicaMemoryTests {
    /// Gemma 3 27B at 8 192 tokens, steps of 16 tokens: a cache budget of 4.5 full-context requests (as the plan
    /// counts them, windows bounded) and the replica's pool of block groups sized from it.
    func gemmaReplica(requests: Int) throws -> (replica: SimulatedReplica, fits: Int) {
        let model = try fixtureModel("gemma-3-27b")
        let cache = CacheAccounting(model: model, stepTokens: 16)
        let perRequest = cache.bytesPerSequence(tokens: 8192)
        let memory = MemoryPlan(deviceMemoryBytes: 1 << 30 + perRequest * 9 / 2, memoryUtilization: 1, weightsBytes: 1 << 30,
                                overheadBytes: 0, safetyMarginBytes: 0, contextLength: 8192, cache: cache, kvHeadCount: model.kvHeadCount)
        let replica = SimulatedReplica(configuration: .init(
            maxStepTokens: 16, maxRunning: requests, maxWaiting: requests, contextLength: 8192, blockSize: 16,
            cacheBlocks: memory.cacheBlocks, blockGroups: cache.blockGroups, stepTime: tokenClock))
        return (replica, memory.maxConcurrency)
    }

    /// Runs `requests` requests side by side that each grow to the full context; returns the preemptions.
    func preemptions(requests: Int) throws -> Int {
        var (r, fits) = try gemmaReplica(requests: requests)
        #expect(fits == 4)
        for id in 0 ..< requests { _ = r.add(request: id, prompt: 16, output: 8176) }
        var finished = 0
        while r.startStep() != nil { finished += r.finishStep().filter(\.finished).count }
        #expect(finished == requests)
        return r.preemptions
    }

    @Test func slidingWindowGroupsHoldWhatThePlanCounts() throws {
        // As many requests as the plan says fit run side by side; one more does not fit and is preempted. A pool
        // of token blocks of every layer (one group) would hold the fifth: its windows cost less than that.
        #expect(try preemptions(requests: 4) == 0)
        #expect(try preemptions(requests: 5) > 0)
    }
}

@Suite struct FleetTests {
    func configuration(replicas: Int? = 1, waiting: Int = 256) -> FleetConfiguration {
        var c = FleetConfiguration(maxStepTokens: 256, maxRunning: 16, maxWaiting: waiting, contextLength: 2048, cacheBlocks: 4096,
                                   stepTime: smallReplica)
        if let replicas {
            c.autoscaler.minReplicas = replicas
            c.autoscaler.maxReplicas = replicas
        }
        c.timePerOutputTokenObjectiveSeconds = 0.1
        c.timeToFirstTokenObjectiveSeconds = 1
        c.nodeStartSeconds = 300
        c.podStartSeconds = 30
        c.modelLoadSeconds = 30
        return c
    }

    let lengths = FleetSimulator.Lengths(prompt: TokenLengthDistribution(mean: 100, p95: 200),
                                         output: TokenLengthDistribution(mean: 20, p95: 40))

    @Test func lightLoadCompletesEverythingWithinTheObjective() {
        let report = FleetSimulator.run(configuration: configuration(), arrivals: .poisson(rate: 2), lengths: lengths, durationSeconds: 600)
        #expect(report.requests > 1000)
        #expect(report.rejected == 0)
        #expect(report.sloAttainment > 0.95)
        #expect(report.samples.count == 10)
    }

    @Test func overloadRefusesWithFullQueues() {
        let report = FleetSimulator.run(configuration: configuration(waiting: 16), arrivals: .poisson(rate: 40), lengths: lengths,
                                        durationSeconds: 300)
        #expect(report.rejected > 0)
        #expect(report.sloAttainment < 0.5)
    }

    @Test func randomRoutingQueuesLongerThanLeastLoaded() {
        var balanced = configuration(replicas: 4)
        balanced.maxRunning = 4
        var random = balanced
        random.routing = .random
        let a = FleetSimulator.run(configuration: balanced, arrivals: .poisson(rate: 12), lengths: lengths, durationSeconds: 600, seed: 3)
        let b = FleetSimulator.run(configuration: random, arrivals: .poisson(rate: 12), lengths: lengths, durationSeconds: 600, seed: 3)
        #expect(a.requests > 6000 && b.requests > 6000)
        // Random choice leaves some replicas with queues while others idle.
        #expect(b.timeToFirstTokenP95 > a.timeToFirstTokenP95 * 1.2)
    }

    @Test func sameSeedSameDay() {
        let a = FleetSimulator.run(configuration: configuration(), arrivals: .poisson(rate: 3), lengths: lengths, durationSeconds: 300, seed: 7)
        let b = FleetSimulator.run(configuration: configuration(), arrivals: .poisson(rate: 3), lengths: lengths, durationSeconds: 300, seed: 7)
        #expect(a == b)
    }

    /// 1 req/s for 10 minutes, then 12 req/s (more than one replica carries).
    let step = ArrivalPattern.trace((0 ..< 600).map { TraceRequest(time: Double($0), promptTokens: 100, outputTokens: 20) }
        + (0 ..< 7200).map { TraceRequest(time: 600 + Double($0) / 12, promptTokens: 100, outputTokens: 20) })

    @Test func autoscalerAddsReplicasAndWarmNodesAnswerSooner() {
        var cold = configuration(replicas: nil)
        cold.autoscaler.metric = .running
        cold.autoscaler.target = 8
        cold.autoscaler.maxReplicas = 10
        let coldReport = FleetSimulator.run(configuration: cold, arrivals: step, lengths: lengths, durationSeconds: 1200)
        #expect(coldReport.peakReadyReplicas > 1)
        var warm = cold
        warm.warmNodes = 4
        let warmReport = FleetSimulator.run(configuration: warm, arrivals: step, lengths: lengths, durationSeconds: 1200)
        #expect(warmReport.timeToFirstTokenP95 < coldReport.timeToFirstTokenP95)
        #expect(warmReport.costUsd >= coldReport.costUsd)
    }

    @Test func failedLaunchesLeaveRequestsWaiting() {
        var c = configuration(replicas: nil)
        c.autoscaler.minReplicas = 0
        c.nodeLaunchFailureProbability = 1
        c.gatewayTimeoutSeconds = 120
        let report = FleetSimulator.run(configuration: c, arrivals: .poisson(rate: 1), lengths: lengths, durationSeconds: 900)
        #expect(report.failedNodeLaunches > 0)
        #expect(report.completed == 0)
        #expect(report.timedOut > 0)
    }

    @Test func scaleToZeroWhenIdle() {
        var c = configuration(replicas: nil)
        c.autoscaler.minReplicas = 0
        c.autoscaler.scaleToZeroCooldownSeconds = 120
        c.onDemandUsdPerHour = 1
        let burst = ArrivalPattern.trace((0 ..< 60).map { TraceRequest(time: Double($0), promptTokens: 100, outputTokens: 20) })
        let report = FleetSimulator.run(configuration: c, arrivals: burst, lengths: lengths, durationSeconds: 3600)
        #expect(report.completed == 60)
        #expect(report.samples.last?.readyReplicas == 0)
        #expect(report.samples.last?.readyNodes == 0)
        // 60 queued requests against a target of 5 waiting per replica asked for 12 replicas, each on its own
        // node; every node is billed for the minutes it lived, not the hour.
        #expect(report.peakNodes > 1)
        #expect(report.costUsd < Double(report.peakNodes) * 0.5)
    }
}

@Suite struct SimulationInputTests {
    @Test func lengthsHaveTheirMeanAndP95() {
        var random = SplitMix64(seed: 3)
        let d = TokenLengthDistribution(mean: 500, p95: 1500)
        let samples = (0 ..< 40000).map { _ in Double(d.sample(&random)) }.sorted()
        let mean = samples.reduce(0, +) / Double(samples.count)
        #expect(abs(mean - 500) / 500 < 0.05)
        #expect(abs(quantile(samples, 0.95) - 1500) / 1500 < 0.05)
        let constant = TokenLengthDistribution(mean: 64, p95: 64).sample(&random)
        #expect(constant == 64)
    }

    @Test func traceErrorsNameTheLine() throws {
        let trace = try TraceRequest.parse(csv: "seconds,prompt,output\n0.5,10,5\n0.25,20,3\n", source: "t.csv")
        #expect(trace.map(\.time) == [0.25, 0.5])
        let error = try #require(throws: SizingError.self) { try TraceRequest.parse(csv: "0,10,5\n1,x,5\n", source: "t.csv") }
        #expect(error.message.contains("t.csv line 2"))
    }

    @Test func dailyCurveTroughAndPeak() {
        let day = ArrivalPattern.daily(peak: 10, trough: 1)
        #expect(abs((day.rate(at: 4 * 3600) ?? 0) - 1) < 1e-9)
        #expect(abs((day.rate(at: 16 * 3600) ?? 0) - 10) < 1e-9)
    }

    @Test func svgHasOnePathPerSeries() {
        let report = FleetSimulator.run(configuration: FleetConfiguration(maxStepTokens: 64, maxRunning: 4, maxWaiting: 8, contextLength: 512,
                                                                          cacheBlocks: 256, stepTime: smallReplica),
                                        arrivals: .poisson(rate: 1), lengths: .init(prompt: .init(mean: 20, p95: 20), output: .init(mean: 5, p95: 5)),
                                        durationSeconds: 600)
        let svg = SVGPlot.simulation(report, title: "a < b").render()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.components(separatedBy: "<path ").count - 1 == 10)
        #expect(svg.contains("a &lt; b"))
    }
}

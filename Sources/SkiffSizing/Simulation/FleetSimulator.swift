/// A discrete-event simulation of a whole deployment: arrivals, a gateway routing each request to the
/// least-loaded ready replica (or a random one, as a plain Service does), replicas batching continuously (`SimulatedReplica`), the autoscaler (HPA or
/// KEDA on queue depth or concurrency, with stabilization windows), pods starting and loading the model,
/// nodes launching (some launches failing), empty nodes going away, and the bill.
///
/// Deterministic for a seed. Requests that find no ready replica wait at the gateway (as behind an
/// activator or an inference gateway) and fail after its timeout.
public struct FleetSimulator {
    /// The prompt and output lengths of generated arrivals.
    public struct Lengths: Sendable, Equatable {
        /// Prompt tokens.
        public var prompt: TokenLengthDistribution
        /// Output tokens.
        public var output: TokenLengthDistribution

        /// Creates lengths.
        public init(prompt: TokenLengthDistribution, output: TokenLengthDistribution) {
            self.prompt = prompt
            self.output = output
        }
    }

    /// Runs the fleet for `durationSeconds` (from midnight for a daily pattern) and reports.
    public static func run(configuration: FleetConfiguration, arrivals: ArrivalPattern, lengths: Lengths, durationSeconds: Double,
                           seed: UInt64 = 1) -> SimulationReport {
        var simulation = FleetSimulation(configuration: configuration, arrivals: arrivals, lengths: lengths, seed: seed)
        return simulation.run(until: durationSeconds)
    }
}

private enum FleetEvent {
    case arrival
    case stepDone(pod: Int)
    case nodeUp(node: Int)
    case nodeLaunchFailed(node: Int)
    case podReady(pod: Int)
    case autoscale
    case sample
}

private struct FleetSimulation {
    enum PodState { case pending, starting, ready, draining, gone }
    enum NodeState { case launching, ready, gone }

    struct Pod {
        var state: PodState
        var node: Int?
        var replica: SimulatedReplica
    }

    struct Node {
        var state: NodeState
        var launchedAt: Double
        var pods = 0
        var emptySince: Double?
    }

    let c: FleetConfiguration
    let arrivals: ArrivalPattern
    let lengths: FleetSimulator.Lengths
    var random: SplitMix64
    var events = EventQueue<FleetEvent>()
    var now = 0.0
    var pods: [Pod] = []
    var nodes: [Node] = []
    var gateway: [Int] = []
    var traceIndex = 0

    // Per request.
    var arrivalTime: [Double] = []
    var firstTokenTime: [Double] = []
    var outputTokens: [Int32] = []
    var finishTime: [Double] = []

    // Totals.
    var rejected = 0, timedOut = 0, completed = 0, failedLaunches = 0, tokens = 0, preemptions = 0
    var nodeSeconds = 0.0
    var lastCompletion = 0.0
    var recommendations: [(time: Double, replicas: Int)] = []
    var lastActivity = 0.0

    // The current sample interval.
    var bucketArrivals = 0, bucketRejected = 0
    var bucketTTFT: [Double] = [], bucketTPOT: [Double] = []
    var samples: [SimulationReport.Sample] = []
    var peakReady = 0, peakNodes = 0

    init(configuration: FleetConfiguration, arrivals: ArrivalPattern, lengths: FleetSimulator.Lengths, seed: UInt64) {
        c = configuration
        self.arrivals = arrivals
        self.lengths = lengths
        random = SplitMix64(seed: seed)
    }

    mutating func run(until end: Double) -> SimulationReport {
        // Start as a fleet that has been up: the minimum replicas serving, the warm nodes up.
        let initialReplicas = max(c.autoscaler.minReplicas, 0)
        let initialNodes = max(c.warmNodes, (initialReplicas + c.replicasPerNode - 1) / c.replicasPerNode)
        for _ in 0 ..< initialNodes { nodes.append(Node(state: .ready, launchedAt: 0, emptySince: 0)) }
        for _ in 0 ..< initialReplicas {
            let pod = newPod()
            place(pod, startingAt: 0, ready: true)
        }
        recommendations = [(0, initialReplicas)]
        scheduleNextArrival()
        events.push(.autoscale, at: c.autoscaler.periodSeconds)
        events.push(.sample, at: c.sampleSeconds)

        while let (time, event) = events.pop(), time <= end {
            now = time
            switch event {
            case .arrival: arrive()
            case .stepDone(let pod): stepDone(pod)
            case .nodeUp(let node): nodeUp(node)
            case .nodeLaunchFailed(let node): launchFailed(node)
            case .podReady(let pod): podReady(pod)
            case .autoscale:
                autoscale()
                events.push(.autoscale, at: now + c.autoscaler.periodSeconds)
            case .sample:
                sample()
                events.push(.sample, at: now + c.sampleSeconds)
            }
        }
        now = end
        return report(duration: end)
    }

    // MARK: Arrivals and routing

    mutating func scheduleNextArrival() {
        switch arrivals {
        case .trace(let requests):
            if traceIndex < requests.count { events.push(.arrival, at: requests[traceIndex].time) }
        case .poisson, .daily:
            let maximum = arrivals.maximumRate
            guard maximum > 0 else { return }
            var t = now
            repeat { t += random.exponential(mean: 1 / maximum) } while random.unit() > (arrivals.rate(at: t) ?? 0) / maximum
            events.push(.arrival, at: t)
        }
    }

    mutating func arrive() {
        let prompt: Int, output: Int
        if case .trace(let requests) = arrivals {
            (prompt, output) = (requests[traceIndex].promptTokens, requests[traceIndex].outputTokens)
            traceIndex += 1
        } else {
            (prompt, output) = (lengths.prompt.sample(&random), lengths.output.sample(&random))
        }
        let id = arrivalTime.count
        arrivalTime.append(now)
        firstTokenTime.append(-1)
        finishTime.append(-1)
        outputTokens.append(Int32(output))
        bucketArrivals += 1
        lastActivity = now
        route(id, prompt: prompt, output: output)
        scheduleNextArrival()
    }

    mutating func route(_ id: Int, prompt: Int, output: Int) {
        var best: Int?
        switch c.routing {
        case .leastLoaded:
            for (index, pod) in pods.enumerated() where pod.state == .ready {
                if best == nil || pod.replica.load < pods[best!].replica.load { best = index }
            }
        case .random:
            let ready = pods.indices.filter { pods[$0].state == .ready }
            if !ready.isEmpty { best = ready[min(Int(random.unit() * Double(ready.count)), ready.count - 1)] }
        }
        guard let best else {
            gateway.append(id)
            promptOf[id] = prompt
            return
        }
        guard pods[best].replica.add(request: id, prompt: prompt, output: output) else {
            rejected += 1
            bucketRejected += 1
            finishTime[id] = now
            return
        }
        if !pods[best].replica.busy { startStep(best) }
    }

    /// Prompt lengths of requests parked at the gateway (output lengths are kept for every request).
    var promptOf: [Int: Int] = [:]

    mutating func startStep(_ pod: Int) {
        if let seconds = pods[pod].replica.startStep() {
            events.push(.stepDone(pod: pod), at: now + seconds)
        } else if pods[pod].state == .draining, pods[pod].replica.isIdle {
            remove(pod)
        }
    }

    mutating func stepDone(_ pod: Int) {
        for token in pods[pod].replica.finishStep() {
            tokens += 1
            if token.first {
                firstTokenTime[token.request] = now
                bucketTTFT.append(now - arrivalTime[token.request] + c.stepTime.requestOverheadSeconds)
            }
            if token.finished {
                finishTime[token.request] = now
                completed += 1
                lastCompletion = now
                let count = Int(outputTokens[token.request])
                if count > 1 { bucketTPOT.append((now - firstTokenTime[token.request]) / Double(count - 1)) }
            }
        }
        lastActivity = now
        startStep(pod)
    }

    // MARK: Pods and nodes

    mutating func newPod() -> Int {
        pods.append(Pod(state: .pending, node: nil, replica: SimulatedReplica(configuration: .init(
            maxStepTokens: c.maxStepTokens, maxRunning: c.maxRunning, maxWaiting: c.maxWaiting, contextLength: c.contextLength,
            blockSize: c.blockSize, cacheBlocks: c.cacheBlocks, blockGroups: c.blockGroups, stepTime: c.stepTime))))
        return pods.count - 1
    }

    /// Puts a pending pod on a ready node with room, if there is one.
    @discardableResult
    mutating func place(_ pod: Int, startingAt time: Double, ready: Bool = false) -> Bool {
        guard let node = nodes.indices.first(where: { nodes[$0].state == .ready && nodes[$0].pods < c.replicasPerNode }) else { return false }
        nodes[node].pods += 1
        nodes[node].emptySince = nil
        pods[pod].node = node
        if ready {
            pods[pod].state = .ready
        } else {
            pods[pod].state = .starting
            events.push(.podReady(pod: pod), at: time + c.podStartSeconds + c.modelLoadSeconds)
        }
        return true
    }

    mutating func podReady(_ pod: Int) {
        guard pods[pod].state == .starting else { return }
        pods[pod].state = .ready
        let parked = gateway
        gateway = []
        for id in parked {
            let prompt = promptOf.removeValue(forKey: id) ?? 1
            route(id, prompt: prompt, output: Int(outputTokens[id]))
        }
    }

    mutating func remove(_ pod: Int) {
        preemptions += pods[pod].replica.preemptions
        if let node = pods[pod].node {
            nodes[node].pods -= 1
            if nodes[node].pods == 0 { nodes[node].emptySince = now }
        }
        pods[pod].state = .gone
        pods[pod].node = nil
        pods[pod].replica = SimulatedReplica(configuration: pods[pod].replica.configuration)
    }

    mutating func launchNode() {
        nodes.append(Node(state: .launching, launchedAt: now))
        let node = nodes.count - 1
        if random.unit() <= c.nodeLaunchFailureProbability {
            events.push(.nodeLaunchFailed(node: node), at: now + c.nodeLaunchRetrySeconds)
        } else {
            events.push(.nodeUp(node: node), at: now + c.nodeStartSeconds)
        }
    }

    mutating func launchFailed(_ node: Int) {
        failedLaunches += 1
        nodes[node].state = .gone
        // A failed launch is not billed; if pods still wait for room, the provisioner tries again.
        provisionNodes()
    }

    mutating func nodeUp(_ node: Int) {
        guard nodes[node].state == .launching else { return }
        nodes[node].state = .ready
        nodes[node].emptySince = now
        for pod in pods.indices where pods[pod].state == .pending {
            if !place(pod, startingAt: now) { break }
        }
    }

    /// Launches nodes for pods that wait for room, counting nodes already on their way.
    mutating func provisionNodes() {
        let pending = pods.count { $0.state == .pending }
        let coming = nodes.count { $0.state == .launching } * c.replicasPerNode
        let missing = pending - coming
        guard missing > 0 else { return }
        for _ in 0 ..< (missing + c.replicasPerNode - 1) / c.replicasPerNode { launchNode() }
    }

    // MARK: Autoscaling

    mutating func autoscale() {
        let a = c.autoscaler
        let active = pods.indices.filter { [.pending, .starting, .ready].contains(pods[$0].state) }
        let readyCount = active.count { pods[$0].state == .ready }
        var waiting = gateway.count, running = 0
        for index in active {
            waiting += pods[index].replica.waitingCount
            running += pods[index].replica.runningCount
        }
        let total = Double(a.metric == .waiting ? waiting : waiting + running)
        let current = active.count
        var desired: Int
        if current == 0 || readyCount == 0 {
            desired = total > 0 ? max(current, Int((total / a.target).rounded(.up)), 1) : current
        } else {
            let ratio = total / (a.target * Double(readyCount))
            desired = abs(ratio - 1) <= a.tolerance ? current : Int((ratio * Double(readyCount)).rounded(.up))
        }
        // With scale to zero allowed, one replica stays while requests run or until the cooldown has passed.
        let keepOne = a.minReplicas == 0 && (waiting + running > 0 || now - lastActivity < a.scaleToZeroCooldownSeconds)
        desired = min(max(desired, keepOne ? 1 : a.minReplicas), a.maxReplicas)
        recommendations.append((now, desired))
        recommendations.removeAll { now - $0.time > max(a.scaleDownWindowSeconds, a.scaleUpWindowSeconds) + a.periodSeconds }
        var target = desired
        if desired > current {
            let window = recommendations.filter { now - $0.time <= a.scaleUpWindowSeconds }.map(\.replicas)
            target = min(desired, window.min() ?? desired)
            target = min(target, current + max(4, current))
        } else if desired < current {
            let window = recommendations.filter { now - $0.time <= a.scaleDownWindowSeconds }.map(\.replicas)
            target = max(desired, window.max() ?? desired)
        }
        if target > current {
            for _ in current ..< target {
                let pod = newPod()
                place(pod, startingAt: now)
            }
            provisionNodes()
        } else if target < current {
            var surplus = current - target
            // Pods still waiting for a node first, then starting ones, then the least loaded ready ones.
            for state in [PodState.pending, .starting] where surplus > 0 {
                for pod in active.reversed() where surplus > 0 && pods[pod].state == state {
                    remove(pod)
                    surplus -= 1
                }
            }
            let ready = active.filter { pods[$0].state == .ready }.sorted { pods[$0].replica.load < pods[$1].replica.load }
            for pod in ready.prefix(surplus) {
                pods[pod].state = .draining
                if pods[pod].replica.isIdle { remove(pod) }
            }
        }
        retireIdleNodes()
    }

    mutating func retireIdleNodes() {
        var up = nodes.count { $0.state != .gone }
        for index in nodes.indices where nodes[index].state == .ready && nodes[index].pods == 0 && up > c.warmNodes {
            if let since = nodes[index].emptySince, now - since >= c.nodeIdleSeconds {
                nodes[index].state = .gone
                nodeSeconds += now - nodes[index].launchedAt
                up -= 1
            }
        }
    }

    // MARK: Reporting

    mutating func sample() {
        // Requests parked too long at the gateway fail.
        let expired = gateway.filter { now - arrivalTime[$0] > c.gatewayTimeoutSeconds }
        if !expired.isEmpty {
            timedOut += expired.count
            for id in expired { finishTime[id] = now; promptOf[id] = nil }
            gateway.removeAll { now - arrivalTime[$0] > c.gatewayTimeoutSeconds }
        }
        var waiting = gateway.count, running = 0, ready = 0, desired = 0
        for pod in pods where pod.state != .gone {
            waiting += pod.replica.waitingCount
            running += pod.replica.runningCount
            if pod.state == .ready { ready += 1 }
            if pod.state != .draining { desired += 1 }
        }
        let readyNodes = nodes.count { $0.state == .ready }
        let launching = nodes.count { $0.state == .launching }
        peakReady = max(peakReady, ready)
        peakNodes = max(peakNodes, readyNodes)
        bucketTTFT.sort()
        bucketTPOT.sort()
        samples.append(.init(
            time: now, arrivalsPerSecond: Double(bucketArrivals) / c.sampleSeconds, waiting: waiting, running: running,
            readyReplicas: ready, desiredReplicas: desired, readyNodes: readyNodes, provisioningNodes: launching,
            timeToFirstTokenP50: bucketTTFT.isEmpty ? nil : quantile(bucketTTFT, 0.5),
            timeToFirstTokenP95: bucketTTFT.isEmpty ? nil : quantile(bucketTTFT, 0.95),
            timePerOutputTokenP50: bucketTPOT.isEmpty ? nil : quantile(bucketTPOT, 0.5),
            timePerOutputTokenP95: bucketTPOT.isEmpty ? nil : quantile(bucketTPOT, 0.95), rejected: bucketRejected))
        bucketArrivals = 0
        bucketRejected = 0
        bucketTTFT = []
        bucketTPOT = []
    }

    func report(duration: Double) -> SimulationReport {
        var ttft: [Double] = [], tpot: [Double] = []
        var withinObjective = 0
        for id in arrivalTime.indices where finishTime[id] >= 0 && firstTokenTime[id] >= 0 {
            let first = firstTokenTime[id] - arrivalTime[id] + c.stepTime.requestOverheadSeconds
            let count = Int(outputTokens[id])
            let perToken = count > 1 ? (finishTime[id] - firstTokenTime[id]) / Double(count - 1) : 0
            ttft.append(first)
            if count > 1 { tpot.append(perToken) }
            if first <= c.timeToFirstTokenObjectiveSeconds, perToken <= c.timePerOutputTokenObjectiveSeconds { withinObjective += 1 }
        }
        ttft.sort()
        tpot.sort()
        var billed = nodeSeconds
        for node in nodes where node.state != .gone { billed += duration - node.launchedAt }
        let hourly = (1 - c.spotShare) * c.onDemandUsdPerHour + c.spotShare * c.spotUsdPerHour
        return SimulationReport(
            durationSeconds: duration, requests: arrivalTime.count, completed: completed, rejected: rejected, timedOut: timedOut,
            unfinished: arrivalTime.count - completed - rejected - timedOut,
            timeToFirstTokenP50: quantile(ttft, 0.5), timeToFirstTokenP95: quantile(ttft, 0.95), timeToFirstTokenP99: quantile(ttft, 0.99),
            timePerOutputTokenP50: quantile(tpot, 0.5), timePerOutputTokenP95: quantile(tpot, 0.95),
            outputTokensPerSecond: Double(tokens) / duration, lastCompletionSeconds: lastCompletion,
            sloAttainment: arrivalTime.isEmpty ? 1 : Double(withinObjective) / Double(arrivalTime.count),
            preemptions: pods.reduce(preemptions) { $0 + $1.replica.preemptions }, peakReadyReplicas: peakReady, peakNodes: peakNodes,
            failedNodeLaunches: failedLaunches, gpuHours: billed * Double(c.gpusPerNode) / 3600, costUsd: billed / 3600 * hourly,
            samples: samples)
    }
}

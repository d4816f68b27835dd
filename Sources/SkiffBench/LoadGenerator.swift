/// How far a run has got, reported after every finished request.
public struct BenchProgress: Sendable, Equatable {
    /// Requests finished, successfully or not.
    public var finished: Int
    /// Requests that failed so far.
    public var failed: Int
    /// Requests in the run.
    public var total: Int
}

/// Sends a workload to a server under a load pattern, measures every request and summarizes the
/// run. It sends each prompt exactly once and stops by itself when the last request finishes or
/// times out; failures are counted, never thrown.
public struct LoadGenerator: Sendable {
    /// The server's client.
    public var client: OpenAIClient
    /// What every request asks for besides its prompt.
    public var settings: RequestSettings
    /// When requests are sent.
    public var load: LoadPattern

    /// A generator that loads `client`'s server with `settings` under `load`.
    public init(client: OpenAIClient, settings: RequestSettings, load: LoadPattern) {
        self.client = client
        self.settings = settings
        self.load = load
    }

    /// Sends every prompt and reports; `progress` is called after each request finishes.
    public func run(_ prompts: [BenchPrompt], progress: (BenchProgress) -> Void = { _ in }) async -> BenchReport {
        let records = await records(for: prompts, progress: progress)
        return BenchReport(records: records, target: client.target, settings: settings, load: load)
    }

    /// The record of every request, in the order they finished.
    func records(for prompts: [BenchPrompt], progress: (BenchProgress) -> Void) async -> [RequestRecord] {
        let client = client
        let settings = settings
        return await withTaskGroup(of: RequestRecord.self) { group in
            var records: [RequestRecord] = []
            var failed = 0
            func collect(_ record: RequestRecord) {
                records.append(record)
                if case .failure = record.outcome { failed += 1 }
                progress(BenchProgress(finished: records.count, failed: failed, total: prompts.count))
            }
            switch load {
            case .concurrency(let workers):
                // Each finished request frees its worker for the next prompt.
                var next = 0
                while next < min(max(workers, 1), prompts.count) {
                    let prompt = prompts[next]
                    group.addTask { await client.send(prompt, settings: settings) }
                    next += 1
                }
                while let record = await group.next() {
                    collect(record)
                    if next < prompts.count {
                        let prompt = prompts[next]
                        group.addTask { await client.send(prompt, settings: settings) }
                        next += 1
                    }
                }
            case .poisson:
                let start = ContinuousClock.now
                for (prompt, offset) in zip(prompts, load.arrivalOffsets(count: prompts.count) ?? []) {
                    group.addTask {
                        try? await Task.sleep(until: start + offset, clock: .continuous)
                        return await client.send(prompt, settings: settings)
                    }
                }
                while let record = await group.next() {
                    collect(record)
                }
            }
            return records
        }
    }
}

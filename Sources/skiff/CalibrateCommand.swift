import ArgumentParser
import Foundation
import SkiffBench
import SkiffModels
import SkiffModelStore
import SkiffSizing

/// `skiff simulate calibrate DIR`: fits the CPU step-time model to `skiff bench` runs against `skiff serve`
/// and checks the simulator against the Poisson runs of the same directory.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Fit a CPU profile to skiff bench runs against skiff serve, and check the simulator against measured Poisson runs.",
        discussion: """
            DIR holds what docs/sizing/calibrate.sh measures: serve.json (the settings skiff serve ran with: \
            model, threads, kv_cache_bytes, max_running, max_waiting, max_step_tokens, ctx) and one \
            `skiff bench --json` report per run (*.bench.json). Runs at a fixed --concurrency (with \
            --ignore-eos) are the calibration: each is replayed step by step with serve's scheduling rules and \
            the step-time figures are fitted to their mean TTFT, mean TPOT and duration by least squares. Runs \
            at a --request-rate are the validation: their exact arrival times (the bench's seeded schedule) are \
            simulated with the fitted profile and serve's limits, as `skiff simulate --trace` would, and \
            p50/p95 TTFT and TPOT, output throughput and 429s are compared. Writes DIR/cpu-profile.json, \
            DIR/validation.json, one trace CSV per Poisson run and prints the tables as Markdown.
            """
    )

    @Argument(help: "The directory of serve.json and *.bench.json files.")
    var directory: String

    @Option(help: ArgumentHelp("Write a chart of simulated ÷ measured figures to this SVG file.", valueName: "file.svg"))
    var chart: String?

    func run() throws {
        let settings = try ServeSettings(contentsOf: (directory as NSString).appendingPathComponent("serve.json"))
        // As `skiff serve --model` takes it: a path, a file in the model directory, or a catalog name.
        let modelPath = try ModelStore(explicitPath: nil).resolve(settings.model).path
        let layout = try ModelShape(ggufPath: modelPath).cacheLayout
        let plan = try KVCachePlan(layout: layout, bytesPerElement: KVCacheStorage.bytesPerElement, stateBytesPerElement: RecurrentStateStorage.bytesPerElement, contextLength: settings.ctx, maxRunning: settings.maxRunning,
                                   stepTokens: settings.maxStepTokens, explicitBytes: settings.kvCacheBytes, memoryFraction: 0.5, availableMemoryBytes: nil)
        let limits = ServeLimits(maxStepTokens: settings.maxStepTokens, maxRunning: settings.maxRunning, maxWaiting: settings.maxWaiting,
                                 contextLength: settings.ctx, cacheBlocks: plan.blocks, blockSize: plan.blockSize,
                                 blockGroups: layout.blockGroups)
        let reports = try benchReports()
        let calibration = reports.filter { $0.concurrency != nil }
        let validation = reports.filter { $0.rate != nil }
        guard !calibration.isEmpty else { throw ValidationError("\(directory) has no fixed-concurrency bench reports to calibrate with") }

        let fit = try CPUCalibration.fit(calibration.map(\.calibrationRun), limits: limits)
        let modelName = ((settings.model as NSString).lastPathComponent as NSString).deletingPathExtension
        let profile = CPUProfile(model: modelName, threads: settings.threads,
                                 source: "skiff simulate calibrate on \(calibration.count) fixed-concurrency skiff bench runs (\(directory))",
                                 stepTime: fit.stepTime)
        try write(encode(profile), to: "cpu-profile.json")

        var lines = ["### Fitted step time (\(modelName), \(settings.threads) threads)", ""]
        let f = fit.stepTime
        lines += [
            "| fixed per step | per token | per decoding sequence | per prompt position attended | per decode position attended | per request, before its first token |",
            "|---:|---:|---:|---:|---:|---:|",
            String(format: "| %.3f ms | %.1f µs | %.1f µs | %.3f µs | %.3f µs | %.1f ms |", f.fixedSeconds * 1e3, f.secondsPerToken * 1e6,
                   f.secondsPerSequence * 1e6, f.secondsPerPrefillAttended * 1e6, f.secondsPerDecodeAttended * 1e6,
                   f.requestOverheadSeconds * 1e3),
            "", "### Calibration runs, measured and replayed with the fit", "",
            "| concurrency | prompt | output | requests | TTFT mean | TPOT mean | duration |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for check in fit.checks {
            let r = check.run
            lines.append("| \(r.concurrency) | \(r.promptTokens) | \(r.outputTokens) | \(r.requests) | "
                + "\(compare(r.meanTimeToFirstTokenSeconds, check.meanTimeToFirstTokenSeconds, scale: 1000, unit: "ms")) | "
                + "\(compare(r.meanTimePerOutputTokenSeconds, check.meanTimePerOutputTokenSeconds, scale: 1000, unit: "ms")) | "
                + "\(compare(r.durationSeconds, check.durationSeconds, scale: 1, unit: "s")) |")
        }

        var results: [ValidationResult] = []
        if !validation.isEmpty {
            lines += ["", "### Poisson runs: measured → simulated (error)", "",
                      "| run | rate | requests | TTFT p50 | TTFT p95 | TPOT p50 | TPOT p95 | output tok/s | 429s |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for report in validation.sorted(by: { ($0.rate!, $0.name) < ($1.rate!, $1.name) }) {
                let result = try validate(report, limits: limits, profile: fit.stepTime)
                results.append(result)
                let m = result.measured, s = result.simulated
                lines.append("| \(report.name) " + String(format: "| %.2f/s | %d | ", report.rate!, report.requests)
                    + [(m.ttftP50, s.ttftP50, 1000.0, "ms"), (m.ttftP95, s.ttftP95, 1000, "ms"), (m.tpotP50, s.tpotP50, 1000, "ms"),
                       (m.tpotP95, s.tpotP95, 1000, "ms"), (m.outputTokensPerSecond, s.outputTokensPerSecond, 1, "")]
                        .map { compare($0.0, $0.1, scale: $0.2, unit: $0.3) }.joined(separator: " | ")
                    + " | \(Int(m.rejected)) → \(Int(s.rejected)) |")
            }
            lines += ["", "Reproduce one row with the simulator itself:", "", "```"]
            for result in results {
                lines.append("skiff simulate --gpu cpu --cpu-profile \(path("cpu-profile.json")) --replicas 1 --trace \(path(result.trace)) "
                    + "--context \(settings.ctx) --kv-cache-bytes \(settings.kvCacheBytes) --max-running \(settings.maxRunning) "
                    + "--max-waiting \(settings.maxWaiting) --max-step-tokens \(settings.maxStepTokens) --duration \(Int(result.simulatedSeconds))")
            }
            lines.append("```")
            try write(encode(results), to: "validation.json")
            if let chart {
                do {
                    try SVGComparison(results).render().write(toFile: chart, atomically: true, encoding: .utf8)
                } catch {
                    throw ValidationError("cannot write \(chart): \(error.localizedDescription)")
                }
            }
        }
        print(lines.joined(separator: "\n"))
    }

    /// One Poisson run simulated on its own arrival times.
    private func validate(_ report: BenchRun, limits: ServeLimits, profile: FittedStepTime) throws -> ValidationResult {
        guard let rate = report.rate, report.completed > 0 else { throw ValidationError("a Poisson run without completed requests cannot be checked") }
        let prompt = report.totalInputTokens / report.completed
        let output = report.totalOutputTokens / report.completed
        let offsets = LoadPattern.poisson(requestsPerSecond: rate, seed: report.seed ?? 0).arrivalOffsets(count: report.requests) ?? []
        let csv = "seconds,prompt_tokens,output_tokens\n" + offsets.map { offset in
            String(format: "%.6f,%d,%d", Double(offset.components.seconds) + Double(offset.components.attoseconds) / 1e18, prompt, output)
        }.joined(separator: "\n") + "\n"
        let name = "\(report.name).trace.csv"
        try write(csv, to: name)
        // Simulated from the file as written (microseconds), so `skiff simulate --trace` on it gives the same figures.
        let trace = try TraceRequest.parse(csv: csv, source: name)
        // Long enough for every request to finish (or be refused).
        let seconds = (trace.last?.time ?? 0) + Double(report.requests) * 30 + 60
        let simulated = FleetSimulator.run(configuration: limits.fleet(stepTime: .fitted(profile)), arrivals: .trace(trace),
                                           lengths: .init(prompt: .init(mean: prompt, p95: prompt), output: .init(mean: output, p95: output)),
                                           durationSeconds: seconds)
        return ValidationResult(
            rate: rate, requests: report.requests, promptTokens: prompt, outputTokens: output, trace: name, simulatedSeconds: seconds,
            measured: .init(ttftP50: report.ttftP50, ttftP95: report.ttftP95, tpotP50: report.tpotP50, tpotP95: report.tpotP95,
                            outputTokensPerSecond: report.outputThroughput, rejected: Double(report.rejected)),
            simulated: .init(ttftP50: simulated.timeToFirstTokenP50, ttftP95: simulated.timeToFirstTokenP95,
                             tpotP50: simulated.timePerOutputTokenP50, tpotP95: simulated.timePerOutputTokenP95,
                             outputTokensPerSecond: simulated.lastCompletionSeconds > 0
                                 ? Double(simulated.completed * output) / simulated.lastCompletionSeconds : 0,
                             rejected: Double(simulated.rejected)))
    }

    private func benchReports() throws -> [BenchRun] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return try files.filter { $0.hasSuffix(".bench.json") }.sorted().map { file in
            var run = try BenchRun(contentsOf: path(file))
            run.name = String(file.dropLast(".bench.json".count))
            return run
        }
    }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    private func write(_ text: String, to name: String) throws {
        do {
            try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        } catch {
            throw ValidationError("cannot write \(path(name)): \(error.localizedDescription)")
        }
    }

    private func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }

    /// "measured → simulated (±e%)".
    private func compare(_ measured: Double, _ simulated: Double, scale: Double, unit: String) -> String {
        let error = measured > 0 ? (simulated / measured - 1) * 100 : 0
        let digits = measured * scale < 10 ? "%.2f" : measured * scale < 100 ? "%.1f" : "%.0f"
        let suffix = unit.isEmpty ? "" : " \(unit)"
        return String(format: "\(digits) → \(digits)\(suffix) (%+.0f%%)", measured * scale, simulated * scale, error)
    }
}

/// The settings `skiff serve` ran with (serve.json, written by docs/sizing/calibrate.sh).
struct ServeSettings: Decodable {
    var model: String
    var threads: Int
    var kvCacheBytes: Int
    var maxRunning: Int
    var maxWaiting: Int
    var maxStepTokens: Int
    var ctx: Int

    init(contentsOf path: String) throws {
        self = try decodeSnakeCaseJSON(path, describing: "serve.json (model, threads, kv_cache_bytes, max_running, max_waiting, max_step_tokens, ctx)")
    }
}

/// The fields of a `skiff bench --json` report that calibration and validation use.
struct BenchRun: Decodable {
    /// The report's file name without `.bench.json` (not in the JSON).
    var name = ""
    var maxConcurrency: Int?
    var requestRate: Double?
    var seed: UInt64?
    var requests: Int
    var completed: Int
    var duration: Double
    var totalInputTokens: Int
    var totalOutputTokens: Int
    var outputThroughput: Double
    var meanTtftMs: Double
    var medianTtftMs: Double
    var p95TtftMs: Double
    var meanTpotMs: Double
    var medianTpotMs: Double
    var p95TpotMs: Double
    var errors: [ErrorEntry]

    private enum CodingKeys: String, CodingKey {
        case maxConcurrency, requestRate, seed, requests, completed, duration, totalInputTokens, totalOutputTokens, outputThroughput,
             meanTtftMs, medianTtftMs, p95TtftMs, meanTpotMs, medianTpotMs, p95TpotMs, errors
    }

    struct ErrorEntry: Decodable {
        var status: Int?
        var count: Int
    }

    var concurrency: Int? { maxConcurrency }
    var rate: Double? { requestRate }
    var rejected: Int { errors.filter { $0.status == 429 }.reduce(0) { $0 + $1.count } }
    var ttftP50: Double { medianTtftMs / 1000 }
    var ttftP95: Double { p95TtftMs / 1000 }
    var tpotP50: Double { medianTpotMs / 1000 }
    var tpotP95: Double { p95TpotMs / 1000 }

    var calibrationRun: CalibrationRun {
        CalibrationRun(concurrency: maxConcurrency ?? 1, requests: completed, promptTokens: totalInputTokens / max(completed, 1),
                       outputTokens: totalOutputTokens / max(completed, 1), meanTimeToFirstTokenSeconds: meanTtftMs / 1000,
                       meanTimePerOutputTokenSeconds: meanTpotMs / 1000, durationSeconds: duration)
    }

    init(contentsOf path: String) throws {
        self = try decodeSnakeCaseJSON(path, describing: "a `skiff bench --json` report")
    }
}

/// A Poisson run, measured and simulated.
struct ValidationResult: Encodable {
    struct Figures: Encodable {
        var ttftP50: Double
        var ttftP95: Double
        var tpotP50: Double
        var tpotP95: Double
        var outputTokensPerSecond: Double
        var rejected: Double
    }

    var rate: Double
    var requests: Int
    var promptTokens: Int
    var outputTokens: Int
    var trace: String
    var simulatedSeconds: Double
    var measured: Figures
    var simulated: Figures
}

/// A chart of simulated ÷ measured for each figure of each Poisson run, with the ±15% target band.
struct SVGComparison {
    let results: [ValidationResult]

    init(_ results: [ValidationResult]) { self.results = results }

    func render() -> String {
        let figures: [(String, KeyPath<ValidationResult.Figures, Double>)] = [
            ("TTFT p50", \.ttftP50), ("TTFT p95", \.ttftP95), ("TPOT p50", \.tpotP50), ("TPOT p95", \.tpotP95),
            ("output tok/s", \.outputTokensPerSecond),
        ]
        let colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"]
        let width = 760.0, height = 320.0, left = 60.0, top = 40.0, bottom = 50.0
        let plotHeight = height - top - bottom
        let low = 0.5, high = 1.5
        func y(_ ratio: Double) -> Double { top + (high - min(max(ratio, low), high)) / (high - low) * plotHeight }
        let group = (width - left - 20) / Double(max(results.count, 1))
        let bar = group / Double(figures.count + 1)
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(left))" y="18" font-size="13">Simulated ÷ measured, skiff serve on CPU at three Poisson rates (band: ±15%)</text>
            <rect x="\(left)" y="\(y(1.15))" width="\(width - left - 20)" height="\(y(0.85) - y(1.15))" fill="#eeeeee"/>

            """
        for tick in stride(from: low, through: high, by: 0.25) {
            svg += "<line x1=\"\(left)\" x2=\"\(width - 20)\" y1=\"\(y(tick))\" y2=\"\(y(tick))\" stroke=\"#cccccc\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(String(format: "%.2f", tick))</text>\n"
        }
        for (index, result) in results.enumerated() {
            let x0 = left + Double(index) * group + bar / 2
            for (k, figure) in figures.enumerated() {
                let measured = result.measured[keyPath: figure.1], simulated = result.simulated[keyPath: figure.1]
                let ratio = measured > 0 ? simulated / measured : 1
                let top = min(y(ratio), y(1)), bottom = max(y(ratio), y(1))
                svg += "<rect x=\"\(x0 + Double(k) * bar)\" y=\"\(top)\" width=\"\(bar * 0.9)\" height=\"\(max(bottom - top, 1))\" fill=\"\(colors[k])\">"
                svg += "<title>\(figure.0): \(String(format: "%.3g", simulated)) vs \(String(format: "%.3g", measured))</title></rect>\n"
            }
            svg += "<text x=\"\(x0 + group / 2 - bar / 2)\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">"
                + "\(String(format: "%.2f", result.rate)) req/s</text>\n"
        }
        for (k, figure) in figures.enumerated() {
            let x = left + Double(k) * 130
            svg += "<rect x=\"\(x)\" y=\"\(height - 20)\" width=\"10\" height=\"10\" fill=\"\(colors[k])\"/>"
            svg += "<text x=\"\(x + 14)\" y=\"\(height - 11)\">\(figure.0)</text>\n"
        }
        return svg + "<line x1=\"\(left)\" x2=\"\(width - 20)\" y1=\"\(y(1))\" y2=\"\(y(1))\" stroke=\"black\"/>\n</svg>\n"
    }
}

/// The JSON file at `path` with snake_case keys, decoded; errors say what the file should have been.
private func decodeSnakeCaseJSON<T: Decodable>(_ path: String, describing expected: String) throws -> T {
    guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    do {
        return try decoder.decode(T.self, from: data)
    } catch {
        throw ValidationError("\(path) is not \(expected): \(error)")
    }
}

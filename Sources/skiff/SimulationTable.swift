import Foundation
import SkiffSizing

/// Terminal renderings of simulation reports.
enum SimulationTable {
    static func summary(_ r: SimulationReport, configuration c: FleetConfiguration, simulatedIn elapsed: Duration) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return [
            String(format: "simulated      %.0f s in %.2f s", r.durationSeconds, seconds),
            "requests       \(r.requests): \(r.completed) completed, \(r.rejected) refused (429), \(r.timedOut) timed out at the gateway, \(r.unfinished) in flight at the end",
            String(format: "TTFT           p50 %.3f s, p95 %.3f s, p99 %.3f s", r.timeToFirstTokenP50, r.timeToFirstTokenP95, r.timeToFirstTokenP99),
            String(format: "TPOT           p50 %.1f ms, p95 %.1f ms", r.timePerOutputTokenP50 * 1000, r.timePerOutputTokenP95 * 1000),
            String(format: "throughput     %.1f output tokens/s", r.outputTokensPerSecond),
            String(format: "objective      %.1f%% of requests within TTFT %.0f ms and TPOT %.0f ms", r.sloAttainment * 100,
                   c.timeToFirstTokenObjectiveSeconds * 1000, c.timePerOutputTokenObjectiveSeconds * 1000),
            "capacity       at most \(r.peakReadyReplicas) replicas serving on \(r.peakNodes) nodes; \(r.failedNodeLaunches) failed node launches; \(r.preemptions) preemptions",
            String(format: "cost           %.1f GPU-hours, $%.2f", r.gpuHours, r.costUsd),
        ].joined(separator: "\n")
    }

    static func comparison(_ rows: [(String, SimulationReport)], configuration c: FleetConfiguration) -> String {
        let header = ["strategy", "in objective", "TTFT p95", "TPOT p95", "429s", "timeouts", "max replicas", "GPU-hours", "cost"]
        var table = [header]
        for (name, r) in rows {
            table.append([
                name, String(format: "%.1f%%", r.sloAttainment * 100), String(format: "%.2f s", r.timeToFirstTokenP95),
                String(format: "%.0f ms", r.timePerOutputTokenP95 * 1000), "\(r.rejected)", "\(r.timedOut)", "\(r.peakReadyReplicas)",
                String(format: "%.1f", r.gpuHours), String(format: "$%.0f", r.costUsd),
            ])
        }
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        return table.map { row in
            row.enumerated().map { index, cell in
                index == 0 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

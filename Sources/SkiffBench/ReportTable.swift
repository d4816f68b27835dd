import Foundation

extension BenchReport {
    /// The report as a table for the terminal, like:
    ///
    /// ```
    /// chat http://127.0.0.1:8080/v1, model SmolLM2, concurrency 4
    /// requests          16 completed, 0 failed in 6.20 s
    /// throughput        2.58 req/s, 82.6 output tok/s, 359.8 total tok/s
    /// tokens            1712 prompt (107.0 per request), 512 output (32.0 per request, from usage)
    ///
    /// latency (ms)         mean        p50        p90        p95        p99
    /// TTFT                 91.3       88.0      140.2      151.0
    /// …
    /// ```
    public func table() -> String {
        var lines: [String] = []
        let loadText: String
        switch load {
        case .concurrency(let workers): loadText = "concurrency \(workers)"
        case .poisson(let rate, let seed): loadText = "Poisson \(formatted(rate, decimals: 2)) req/s (seed \(seed))"
        }
        lines.append("\(api.rawValue) \(url), model \(model), \(loadText)")
        lines.append(row("requests", "\(completed) completed, \(failed) failed in \(formatted(duration.inSeconds, decimals: 2)) s"))
        lines.append(row("throughput", """
            \(formatted(requestThroughput, decimals: 2)) req/s, \(formatted(outputThroughput, decimals: 1)) output tok/s, \
            \(formatted(totalTokenThroughput, decimals: 1)) total tok/s
            """))
        if completed > 0 {
            let source = outputTokensFromUsage == completed ? "from usage"
                : "\(completed - outputTokensFromUsage) without usage: counted chunks"
            lines.append(row("tokens", """
                \(totalInputTokens) prompt (\(formatted(Double(totalInputTokens) / Double(completed), decimals: 1)) per request), \
                \(totalOutputTokens) output (\(formatted(Double(totalOutputTokens) / Double(completed), decimals: 1)) per request, \(source))
                """))
            lines.append("")
            lines.append(pad("latency (ms)", 14) + ["mean", "p50", "p90", "p95", "p99"].map { padLeft($0, 11) }.joined())
            for (name, summary) in [("TTFT", timeToFirstToken), ("TPOT", timePerOutputToken),
                                    ("ITL", interTokenLatency), ("E2EL", endToEndLatency)] {
                let values = summary.count == 0 ? Array(repeating: "-", count: 5)
                    : [summary.mean, summary.median, summary.p90, summary.p95, summary.p99].map { formatted($0, decimals: 1) }
                lines.append(pad(name, 14) + values.map { padLeft($0, 11) }.joined())
            }
        }
        if !errors.isEmpty {
            lines.append("")
            lines.append("errors")
            for entry in errors {
                lines.append("  \(entry.count) × \(entry.error)")
            }
        }
        return lines.joined(separator: "\n")
    }

    private func row(_ label: String, _ value: String) -> String {
        pad(label, 18) + value
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }

    private func formatted(_ value: Double, decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }
}

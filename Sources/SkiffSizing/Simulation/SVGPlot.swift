import Foundation

/// Time-series charts as standalone SVG: stacked panels sharing the time axis, one polyline per series.
public struct SVGPlot: Sendable {
    /// One line.
    public struct Series: Sendable {
        /// Its legend.
        public var label: String
        /// A CSS colour.
        public var color: String
        /// Values by sample (nil leaves a gap).
        public var values: [Double?]

        /// Creates a series.
        public init(label: String, color: String, values: [Double?]) {
            self.label = label
            self.color = color
            self.values = values
        }
    }

    /// One panel: a title, a unit and its lines.
    public struct Panel: Sendable {
        /// The title above the panel.
        public var title: String
        /// The lines.
        public var series: [Series]

        /// Creates a panel.
        public init(title: String, series: [Series]) {
            self.title = title
            self.series = series
        }
    }

    /// Sample times in seconds.
    public var times: [Double]
    /// Panels, top to bottom.
    public var panels: [Panel]
    /// A title over everything.
    public var title: String

    /// Creates a plot.
    public init(title: String, times: [Double], panels: [Panel]) {
        self.title = title
        self.times = times
        self.panels = panels
    }

    /// The four panels of a simulation: load, queue, capacity and latency.
    public static func simulation(_ report: SimulationReport, title: String) -> SVGPlot {
        let s = report.samples
        return SVGPlot(title: title, times: s.map(\.time), panels: [
            Panel(title: "load (requests/s)", series: [
                Series(label: "arrivals", color: "#1f77b4", values: s.map(\.arrivalsPerSecond)),
                Series(label: "429s", color: "#d62728", values: s.map { Double($0.rejected) / (report.samples.count > 1 ? s[1].time - s[0].time : 60) }),
            ]),
            Panel(title: "requests in the fleet", series: [
                Series(label: "running", color: "#2ca02c", values: s.map { Double($0.running) }),
                Series(label: "waiting", color: "#ff7f0e", values: s.map { Double($0.waiting) }),
            ]),
            Panel(title: "capacity", series: [
                Series(label: "replicas serving", color: "#2ca02c", values: s.map { Double($0.readyReplicas) }),
                Series(label: "replicas wanted", color: "#9467bd", values: s.map { Double($0.desiredReplicas) }),
                Series(label: "nodes up", color: "#8c564b", values: s.map { Double($0.readyNodes) }),
            ]),
            Panel(title: "latency (s)", series: [
                Series(label: "TTFT p95", color: "#d62728", values: s.map(\.timeToFirstTokenP95)),
                Series(label: "TTFT p50", color: "#ff9896", values: s.map(\.timeToFirstTokenP50)),
                Series(label: "TPOT p95 × 10", color: "#1f77b4", values: s.map { $0.timePerOutputTokenP95.map { $0 * 10 } }),
            ]),
        ])
    }

    /// The SVG document.
    public func render(width: Double = 900, panelHeight: Double = 150) -> String {
        let left = 60.0, right = 150.0, top = 40.0, gap = 40.0
        let plotWidth = width - left - right
        let height = top + Double(panels.count) * (panelHeight + gap)
        let t0 = times.first ?? 0, t1 = max(times.last ?? 1, t0 + 1)
        func x(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * plotWidth }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="20" font-size="14" font-weight="bold">\(escape(title))</text>

        """
        let hours = (t1 - t0) / 3600
        let tickStep = hours > 12 ? 4.0 : hours > 4 ? 1.0 : hours > 1 ? 0.25 : max(1.0 / 60, (hours / 6 * 60).rounded(.up) / 60)
        for (index, panel) in panels.enumerated() {
            let y0 = top + Double(index) * (panelHeight + gap) + 15
            let maximum = niceCeiling(panel.series.flatMap { $0.values.compactMap { $0 } }.max() ?? 1)
            func y(_ v: Double) -> Double { y0 + panelHeight - v / maximum * panelHeight }
            svg += "<text x=\"\(left)\" y=\"\(f(y0 - 5))\" font-weight=\"bold\">\(escape(panel.title))</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(f(y0))\" width=\"\(f(plotWidth))\" height=\"\(f(panelHeight))\" fill=\"none\" stroke=\"#999\"/>\n"
            for fraction in [0.0, 0.5, 1.0] {
                let value = maximum * fraction
                svg += "<text x=\"\(f(left - 5))\" y=\"\(f(y(value) + 4))\" text-anchor=\"end\">\(label(value))</text>\n"
                if fraction == 0.5 {
                    svg += "<line x1=\"\(left)\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(y(value)))\" y2=\"\(f(y(value)))\" stroke=\"#eee\"/>\n"
                }
            }
            var tick = (t0 / 3600 / tickStep).rounded(.up) * tickStep
            while tick * 3600 <= t1 {
                let tx = x(tick * 3600)
                svg += "<line x1=\"\(f(tx))\" x2=\"\(f(tx))\" y1=\"\(f(y0 + panelHeight))\" y2=\"\(f(y0 + panelHeight + 4))\" stroke=\"#999\"/>\n"
                svg += "<text x=\"\(f(tx))\" y=\"\(f(y0 + panelHeight + 15))\" text-anchor=\"middle\">\(timeLabel(tick))</text>\n"
                tick += tickStep
            }
            for (number, series) in panel.series.enumerated() {
                var path = "", pen = false
                for (i, value) in series.values.enumerated() where i < times.count {
                    guard let value else { pen = false; continue }
                    path += "\(pen ? "L" : "M")\(f(x(times[i]))) \(f(y(min(value, maximum)))) "
                    pen = true
                }
                svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"1.5\"/>\n"
                let ly = y0 + 12 + Double(number) * 16
                svg += "<line x1=\"\(f(left + plotWidth + 10))\" x2=\"\(f(left + plotWidth + 30))\" y1=\"\(f(ly - 4))\" y2=\"\(f(ly - 4))\" stroke=\"\(series.color)\" stroke-width=\"2\"/>\n"
                svg += "<text x=\"\(f(left + plotWidth + 35))\" y=\"\(f(ly))\">\(escape(series.label))</text>\n"
            }
        }
        return svg + "</svg>\n"
    }

    private func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        for step in [1.0, 2, 2.5, 5, 10] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }
    private func label(_ v: Double) -> String { v >= 100 || v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.2g", v) }
    private func timeLabel(_ hours: Double) -> String {
        let minutes = Int((hours * 60).rounded())
        return String(format: "%d:%02d", minutes / 60, minutes % 60)
    }
    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

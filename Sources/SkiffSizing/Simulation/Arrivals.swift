import Foundation

/// When requests arrive, and how long they are.
public enum ArrivalPattern: Sendable, Equatable {
    /// Poisson arrivals at a constant rate (requests per second).
    case poisson(rate: Double)
    /// Poisson arrivals whose rate follows a day: `trough` at 04:00, `peak` at 16:00, a cosine between.
    case daily(peak: Double, trough: Double)
    /// Recorded arrivals: seconds from the start, prompt and output tokens.
    case trace([TraceRequest])

    /// The rate at `time` seconds from midnight (for plots; a trace reports nil).
    public func rate(at time: Double) -> Double? {
        switch self {
        case .poisson(let rate): rate
        case .daily(let peak, let trough):
            trough + (peak - trough) * (1 - cos(2 * Double.pi * (time - 4 * 3600) / 86400)) / 2
        case .trace: nil
        }
    }

    /// The highest rate, for thinning.
    var maximumRate: Double {
        switch self {
        case .poisson(let rate): rate
        case .daily(let peak, let trough): max(peak, trough)
        case .trace: 0
        }
    }
}

/// One recorded request.
public struct TraceRequest: Sendable, Equatable {
    /// Seconds from the start of the trace.
    public var time: Double
    /// Prompt tokens.
    public var promptTokens: Int
    /// Output tokens.
    public var outputTokens: Int

    /// Creates a request.
    public init(time: Double, promptTokens: Int, outputTokens: Int) {
        self.time = time
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
    }

    /// Reads a CSV trace: one request per line as `seconds,prompt_tokens,output_tokens`; a header line and
    /// lines starting with `#` are skipped.
    public static func parse(csv text: String, source: String) throws(SizingError) -> [TraceRequest] {
        var requests: [TraceRequest] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || (index == 0 && trimmed.first?.isLetter == true) { continue }
            let fields = trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == 3, let time = Double(fields[0]), time >= 0, let prompt = Int(fields[1]), prompt >= 1,
                  let output = Int(fields[2]), output >= 1
            else {
                throw SizingError(.input, "\(source) line \(index + 1): expected seconds,prompt_tokens,output_tokens (seconds ≥ 0, tokens ≥ 1), got '\(trimmed)'")
            }
            requests.append(TraceRequest(time: time, promptTokens: prompt, outputTokens: output))
        }
        return requests.sorted { $0.time < $1.time }
    }
}

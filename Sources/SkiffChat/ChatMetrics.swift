import Foundation
import SkiffChatUpstream
import Synchronization

/// The chat tier's Prometheus metrics (text format 0.0.4, written by hand): requests, streams in
/// flight, upstream failures by kind and the time to first token users see.
final class ChatMetrics: Sendable {
    /// Seconds; finer at the low end, where a healthy service answers.
    static let timeToFirstTokenBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// How an answer ended.
    enum StreamOutcome: String, CaseIterable {
        case complete, stopped, interrupted, failed
    }

    private struct State {
        var requests: [String: Int] = [:]
        var activeStreams = 0
        var streams: [StreamOutcome: Int] = [:]
        var upstreamErrors: [UpstreamError.Kind: Int] = [:]
        var ttftCounts = [Int](repeating: 0, count: ChatMetrics.timeToFirstTokenBuckets.count)
        var ttftSum = 0.0
        var ttftCount = 0
    }

    private let state = Mutex(State())

    func recordRequest(status: Int) {
        let label = "\(status / 100)xx"
        state.withLock { $0.requests[label, default: 0] += 1 }
    }

    func streamStarted() { state.withLock { $0.activeStreams += 1 } }

    func streamEnded(_ outcome: StreamOutcome) {
        state.withLock {
            $0.activeStreams -= 1
            $0.streams[outcome, default: 0] += 1
        }
    }

    func recordUpstreamError(_ kind: UpstreamError.Kind) { state.withLock { $0.upstreamErrors[kind, default: 0] += 1 } }

    func recordTimeToFirstToken(seconds: Double) {
        state.withLock {
            for (index, bound) in Self.timeToFirstTokenBuckets.enumerated() where seconds <= bound {
                $0.ttftCounts[index] += 1
            }
            $0.ttftSum += seconds
            $0.ttftCount += 1
        }
    }

    var activeStreams: Int { state.withLock { $0.activeStreams } }

    /// The exposition.
    func render() -> String {
        let state = self.state.withLock { $0 }
        var out = ""
        out += "# HELP skiff_chat_requests_total HTTP requests answered, by status class.\n"
        out += "# TYPE skiff_chat_requests_total counter\n"
        for label in ["2xx", "3xx", "4xx", "5xx"] {
            out += "skiff_chat_requests_total{code=\"\(label)\"} \(state.requests[label] ?? 0)\n"
        }
        out += "# HELP skiff_chat_active_streams Answers being streamed now.\n"
        out += "# TYPE skiff_chat_active_streams gauge\n"
        out += "skiff_chat_active_streams \(state.activeStreams)\n"
        out += "# HELP skiff_chat_streams_total Answers streamed, by how they ended.\n"
        out += "# TYPE skiff_chat_streams_total counter\n"
        for outcome in StreamOutcome.allCases {
            out += "skiff_chat_streams_total{outcome=\"\(outcome.rawValue)\"} \(state.streams[outcome] ?? 0)\n"
        }
        out += "# HELP skiff_chat_upstream_errors_total Failures of the model service, by kind.\n"
        out += "# TYPE skiff_chat_upstream_errors_total counter\n"
        for kind in UpstreamError.Kind.allCases {
            out += "skiff_chat_upstream_errors_total{kind=\"\(kind.rawValue)\"} \(state.upstreamErrors[kind] ?? 0)\n"
        }
        out += "# HELP skiff_chat_time_to_first_token_seconds From a user's send to the first text of the answer.\n"
        out += "# TYPE skiff_chat_time_to_first_token_seconds histogram\n"
        for (index, bound) in Self.timeToFirstTokenBuckets.enumerated() {
            out += "skiff_chat_time_to_first_token_seconds_bucket{le=\"\(bound)\"} \(state.ttftCounts[index])\n"
        }
        out += "skiff_chat_time_to_first_token_seconds_bucket{le=\"+Inf\"} \(state.ttftCount)\n"
        out += "skiff_chat_time_to_first_token_seconds_sum \(state.ttftSum)\n"
        out += "skiff_chat_time_to_first_token_seconds_count \(state.ttftCount)\n"
        return out
    }
}

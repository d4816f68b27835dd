import Foundation
import SkiffSizing

/// The terminal rendering of a plan: each figure with the terms it comes from.
enum PlanTable {
    static func render(_ p: CapacityPlan) -> String {
        var rows: [(String, String)] = []
        func row(_ label: String, _ value: String) { rows.append((label, value)) }
        let m = p.model
        var shape = "\(m.architecture), \(count(m.parameters)) parameters"
        if let experts = m.experts, let k = m.expertsPerToken { shape += " (\(count(m.activeParameters)) active: \(k) of \(experts) experts)" }
        row("model", "\(m.name): \(shape)")
        var layers = "\(m.layers) layers"
        if m.slidingWindowLayers > 0 { layers += ": \(m.fullAttentionLayers) full attention, \(m.slidingWindowLayers) sliding window" }
        if m.stateSpaceLayers > 0 { layers += ", \(m.stateSpaceLayers) Mamba-2" }
        row("", layers)
        row("hardware", "\(p.hardware) (\(p.gpuResourceName))")
        let engine = switch p.engine {
        case .vllm: "vllm"
        case .skiff: p.gpu == nil ? "skiff" : "skiff (--device vulkan, one GPU per replica)"
        case nil: "none: Skiff's engine does not run this model, and vLLM needs a GPU (see the warning)"
        }
        row("engine", engine)
        row("weights", "\(bytes(p.weightsBytes)) (\(p.weightsPrecision))" + (p.gpusPerReplica > 1 ? ", \(bytes(p.weightsBytesPerGpu)) per GPU" : ""))
        row("memory per GPU", "\(bytes(p.memoryBytesPerGpu)) × \(p.memoryUtilization) usable = \(bytes(p.usableBytesPerGpu))")
        row("runtime overhead", bytes(p.runtimeOverheadBytes))
        row("free after model", "\(bytes(p.usableBytesPerGpu)) − \(bytes(p.weightsBytesPerGpu)) − \(bytes(p.runtimeOverheadBytes)) = \(bytes(p.freeAfterModelBytes))")
        row("cache budget", "\(bytes(p.freeAfterModelBytes)) − \(bytes(p.safetyMarginBytes)) margin = \(bytes(p.cacheBudgetBytes))")
        if p.kvCacheBytesPerToken > 0 {
            var kv = "\(p.kvCacheBytesPerToken) bytes per token (\(p.kvCachePrecision))"
            if p.kvCacheBytesPerTokenBeyondWindows != p.kvCacheBytesPerToken {
                kv += ", \(p.kvCacheBytesPerTokenBeyondWindows) beyond the sliding windows"
            }
            row("KV cache", kv)
        }
        if p.stateBytesPerSequence > 0 { row("recurrent state", "\(bytes(p.stateBytesPerSequence)) per sequence, any length") }
        row("per request", "\(bytes(p.bytesPerRequestAtContext)) at \(p.contextLength) tokens"
            + (p.bytesPerRequestAtMean.map { ", \(bytes($0)) at the mean length" } ?? ""))
        row("max concurrency", "floor(\(bytes(p.cacheBudgetBytes)) ÷ \(bytes(p.bytesPerRequestAtContext))) = \(p.maxConcurrency) at full context"
            + (p.maxConcurrencyAtMean.map { ", \($0) at the mean length" } ?? ""))
        if p.gpusPerReplica > 1 {
            row("parallelism", "tensor parallel \(p.tensorParallel) × pipeline stages \(p.pipelineStages) = \(p.gpusPerReplica) GPUs per replica")
        }
        if p.replicasPerGpu > 1 { row("sharing", "\(p.replicasPerGpu) replicas per GPU") }
        if let s = p.migSuggestion {
            row("MIG", "fits \(s.profile) (\(bytes(s.memoryBytes)), \(s.maxConcurrency) at full context): \(s.replicasPerGpu) replicas per GPU")
        }
        if let f = p.fleet {
            let t = f.throughputPerReplica
            row("workload", String(format: "%.3g req/s peak, prompt %d (p95 %d), output %d (p95 %d) tokens; objective TTFT p95 %.0f ms, TPOT %.0f ms",
                                   f.workload.peakRequestsPerSecond, f.workload.promptTokensMean, f.workload.promptTokensP95,
                                   f.workload.outputTokensMean, f.workload.outputTokensP95, f.workload.timeToFirstTokenP95Seconds * 1000,
                                   f.workload.timePerOutputTokenSeconds * 1000))
            let p95 = t.timePerOutputTokenP95Seconds.map { String(format: " (p95 %.1f ms)", $0 * 1000) } ?? ""
            let mean = t.meanEstimateRequestsPerSecond.map { String(format: "; the mean step time alone would allow %.3g req/s", $0) } ?? ""
            row("per replica", String(format: "%.3g req/s, %.0f output tok/s, %.1f running + waiting; TPOT %.1f ms%@, TTFT p95 %.0f ms (limited by %@%@)",
                                      t.requestsPerSecond, t.outputTokensPerSecond, t.runningRequests, t.timePerOutputTokenSeconds * 1000, p95,
                                      t.timeToFirstTokenP95Seconds * 1000, t.limitedBy, mean))
            row("replicas", "\(f.replicas)")
            row("nodes", "\(f.nodes)" + (f.instanceType.map { " × \($0) (\(f.replicasPerNode) replicas per node)" } ?? ""))
            row("warm", String(format: "%d nodes (%d replicas): a new one is ready after %.0f s, %.0f s on a warm node", f.warmNodes, f.warmReplicas,
                               f.secondsToReady, f.secondsToReadyOnWarmNode))
            row("autoscaler", "\(f.autoscalerMetric) target \(f.autoscalerTargetRunningPerReplica) per replica "
                + "(on queue depth alone, vllm:num_requests_waiting: \(f.autoscalerTargetWaitingPerReplica))")
            if let onDemand = f.onDemandUsdPerMonth {
                row("cost", String(format: "$%.0f per month on demand", onDemand)
                    + (f.spotUsdPerMonth.map { String(format: ", $%.0f on spot", $0) } ?? "") + " at peak size (prices of \(f.priceDate ?? "?"))")
            }
        }
        let width = rows.map(\.0.count).max() ?? 0
        var text = rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
        for warning in p.warnings { text += "\nwarning: \(warning)" }
        return text
    }

    static func bytes(_ value: Int) -> String {
        let v = Double(value)
        if abs(v) >= Double(1 << 30) { return String(format: "%.2f GiB", v / Double(1 << 30)) }
        if abs(v) >= Double(1 << 20) { return String(format: "%.1f MiB", v / Double(1 << 20)) }
        if abs(v) >= 1024 { return String(format: "%.1f KiB", v / 1024) }
        return "\(value) B"
    }

    static func count(_ value: Int) -> String {
        value >= 1_000_000_000 ? String(format: "%.2f B", Double(value) / 1e9) : String(format: "%.0f M", Double(value) / 1e6)
    }
}

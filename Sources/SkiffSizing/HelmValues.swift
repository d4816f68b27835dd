/// The Helm values a plan implies, in the keys of the chart in `deploy/helm/skiff` (its `values.yaml` and
/// `values.schema.json`), so that `helm install -f` takes them as they are:
///
/// - `model.engine`: `vllm` on GPUs (Skiff's own engine computes on CPUs today), `skiff` on `cpu`;
/// - `model.replicaCount`; `model.gpu.{enabled, resourceName, count, nodeSelector}` (the GPU or MIG resource,
///   the tensor-parallel degree, the instance type as a node label merged with the chart's own selector);
/// - `model.server.{contextLength, maxRunning, kvCacheBytes}` (`kvCacheBytes` on `cpu` only: vLLM sizes its cache
///   from `model.vllm.gpuMemoryUtilization`); pipeline stages go to `model.vllm.extraArgs`;
/// - `autoscaling.{enabled, mode, minReplicas, maxReplicas, targetQueuedRequestsPerPod}`: the chart's autoscaler
///   scales on queued requests (`vllm:num_requests_waiting`), so the waiting target is what it gets; the plan's
///   recommended running-requests target is written as a comment beside it.
public enum HelmValues {
    /// A node of the values tree: a scalar as YAML text, a list of scalars, or a map in key order.
    public indirect enum Node: Sendable, Equatable {
        /// A scalar already in YAML form (numbers, booleans, quoted strings).
        case scalar(String)
        /// A flow list of scalars.
        case list([String])
        /// A map; `comment` is written on the line before the key.
        case map([Entry])

        /// A key, an optional comment for the line before it, and its value.
        public typealias Entry = (key: String, comment: String?, value: Node)

        public static func == (a: Node, b: Node) -> Bool {
            switch (a, b) {
            case (.scalar(let x), .scalar(let y)): x == y
            case (.list(let x), .list(let y)): x == y
            case (.map(let x), .map(let y)):
                x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.comment == $1.comment && $0.value == $1.value }
            default: false
            }
        }
    }

    /// The values for `plan` as a tree (what `yaml(for:command:)` renders).
    public static func values(for plan: CapacityPlan) -> Node {
        var gpu: [Node.Entry]
        if plan.gpu != nil {
            gpu = [("enabled", nil, .scalar("true")), ("resourceName", nil, .scalar(quoted(plan.gpuResourceName))),
                   ("count", "GPUs per replica (vLLM's --tensor-parallel-size)", .scalar("\(plan.tensorParallel)"))]
            if let instance = plan.fleet?.instanceType {
                gpu.append(("nodeSelector", nil, .map([("node.kubernetes.io/instance-type", nil, .scalar(quoted(instance)))])))
            }
        } else {
            gpu = [("enabled", nil, .scalar("false"))]
        }
        var server: [Node.Entry] = [
            ("contextLength", nil, .scalar("\(plan.contextLength)")),
            ("maxRunning", nil, .scalar("\(min(plan.maxConcurrencyAtMean ?? plan.maxConcurrency, 4096))")),
        ]
        if plan.gpu == nil { server.append(("kvCacheBytes", nil, .scalar("\(plan.cacheBudgetBytes)"))) }
        var model: [Node.Entry] = [
            ("engine", plan.gpu == nil ? nil : "Skiff's own engine computes on CPUs; GPUs are served by vLLM",
             .scalar(plan.gpu == nil ? "skiff" : "vllm")),
            ("replicaCount", "replicas when autoscaling is off: the peak's", .scalar("\(plan.fleet?.replicas ?? plan.replicas ?? 1)")),
            ("gpu", nil, .map(gpu)),
            ("server", nil, .map(server)),
        ]
        if plan.gpu != nil {
            var vllm: [Node.Entry] = [("gpuMemoryUtilization", nil, .scalar("\(plan.memoryUtilization)"))]
            if plan.pipelineStages > 1 { vllm.append(("extraArgs", nil, .list([quoted("--pipeline-parallel-size=\(plan.pipelineStages)")]))) }
            model.append(("vllm", nil, .map(vllm)))
        }
        var root: [Node.Entry] = [("model", nil, .map(model))]
        if let fleet = plan.fleet {
            let minimum = max(fleet.warmReplicas, 1)
            root.append(("autoscaling", nil, .map([
                ("enabled", nil, .scalar("true")),
                ("mode", nil, .scalar("hpa")),
                ("minReplicas", "replicas kept up: growth while a node starts, the pod starts and the model loads", .scalar("\(minimum)")),
                ("maxReplicas", nil, .scalar("\(max(fleet.replicas, minimum))")),
                ("targetQueuedRequestsPerPod",
                 "vllm:num_requests_waiting per pod (the chart's metric). The plan recommends scaling on running + waiting "
                    + "at \(fleet.autoscalerTargetRunningPerReplica) per pod instead: a queue-depth HPA sees 0 while replicas keep up and scales down",
                 .scalar("\(fleet.autoscalerTargetWaitingPerReplica)")),
            ])))
        }
        return .map(root)
    }

    /// YAML for `plan`, with a comment saying where it came from.
    public static func yaml(for plan: CapacityPlan, command: String) -> String {
        var lines = [
            "# Generated by: \(command)",
            "# \(plan.model.name) on \(plan.hardware): \(plan.maxConcurrency) requests at \(plan.contextLength) tokens per replica.",
            "# For the chart in deploy/helm/skiff: helm install skiff deploy/helm/skiff -f THIS_FILE",
        ]
        render(values(for: plan), indent: "", into: &lines)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func render(_ node: Node, indent: String, into lines: inout [String]) {
        guard case .map(let entries) = node else { return }
        for entry in entries {
            if let comment = entry.comment { lines.append("\(indent)# \(comment)") }
            switch entry.value {
            case .scalar(let text): lines.append("\(indent)\(entry.key): \(text)")
            case .list(let items): lines.append("\(indent)\(entry.key): [\(items.joined(separator: ", "))]")
            case .map:
                lines.append("\(indent)\(entry.key):")
                render(entry.value, indent: indent + "  ", into: &lines)
            }
        }
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

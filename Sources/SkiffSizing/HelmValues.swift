/// The Helm values a plan implies, in the keys of the chart in `deploy/helm/skiff` (its `values.yaml` and
/// `values.schema.json`), so that `helm install -f` takes them as they are:
///
/// - `model.engine`: the plan's `engine` (`ServingEngine.choose`, or as asked): `skiff` where Skiff's engine serves
///   the model (on `cpu`, or on one GPU through Vulkan), else `vllm` on GPUs. A `cpu` plan for a model Skiff's engine
///   does not run has no values: the chart runs vLLM on GPUs only, so `values(for:)` throws, saying why;
/// - `model.replicaCount`; `model.gpu.{enabled, resourceName, count, memoryUtilization, nodeSelector}` (the GPU or MIG
///   resource, the tensor-parallel degree, the memory share both engines size their cache from, the instance type as
///   a node label merged with the chart's own selector); on `cpu`, `enabled: false` and no other GPU key;
/// - `model.gpu.warmNodes`: the plan's warm nodes, kept up by the chart's placeholder pods (GPU plans with a fleet);
/// - `model.server.{contextLength, maxRunning, kvCacheBytes}` (`kvCacheBytes` on `cpu` only: on a GPU both engines
///   give the cache what `model.gpu.memoryUtilization` leaves); pipeline stages go to `model.vllm.extraArgs`;
/// - `autoscaling.{enabled, mode, minReplicas, maxReplicas, metric, targetConcurrentRequestsPerPod,
///   targetQueuedRequestsPerPod}`: the plan's recommendation, scaling on running + waiting requests per pod
///   (`metric: concurrency`), with the queue-depth target beside it for `metric: waiting`. On GPUs the warm
///   capacity is the warm nodes, so `minReplicas` is 1; on `cpu` (no node to wait for, no placeholder) it is the
///   plan's warm replicas, kept running.
public enum HelmValues {
    /// A node of the values tree: a scalar as YAML text, a list of scalars, or a map in key order.
    public indirect enum Node: Sendable {
        /// A scalar already in YAML form (numbers, booleans, quoted strings).
        case scalar(String)
        /// A flow list of scalars.
        case list([String])
        /// A map; `comment` is written on the line before the key.
        case map([Entry])

        /// A key, an optional comment for the line before it, and its value.
        public typealias Entry = (key: String, comment: String?, value: Node)
    }

    /// The values for `plan` as a tree (what `yaml(for:command:)` renders).
    ///
    /// Throws for a `cpu` plan whose model Skiff's engine does not run (`plan.engine` nil): no engine the chart
    /// offers serves it on CPUs.
    public static func values(for plan: CapacityPlan) throws(SizingError) -> Node {
        guard let engine = plan.engine else {
            throw SizingError(.model, "no Helm values for \(plan.model.name) on \(plan.hardware): "
                + "\(plan.model.skiffEngineRefusal ?? "Skiff's engine does not run it"), and the chart runs vLLM on GPUs only; "
                + "plan for a GPU (--gpu l4, --gpu l40s, ...) to get values for vLLM")
        }
        let onGPU = plan.gpu != nil
        var gpu: [Node.Entry]
        if onGPU {
            gpu = [("enabled", nil, .scalar("true")), ("resourceName", nil, .scalar(quoted(plan.gpuResourceName))),
                   ("count", engine == .vllm ? "GPUs per replica (vLLM's --tensor-parallel-size)" : "Skiff's engine computes on one GPU",
                    .scalar("\(plan.tensorParallel)")),
                   ("memoryUtilization", nil, .scalar("\(plan.memoryUtilization)"))]
            if let instance = plan.fleet?.instanceType {
                gpu.append(("nodeSelector", nil, .map([("node.kubernetes.io/instance-type", nil, .scalar(quoted(instance)))])))
            }
            if let fleet = plan.fleet {
                gpu.append(("warmNodes", String(format: "GPU nodes kept up for growth while a node starts (placeholder pods that replicas preempt): "
                    + "a replica on one serves after %.0f s instead of %.0f s", fleet.secondsToReadyOnWarmNode, fleet.secondsToReady),
                    .scalar("\(fleet.warmNodes)")))
            }
        } else {
            gpu = [("enabled", "Skiff's engine on the CPU: no GPU", .scalar("false"))]
        }
        var server: [Node.Entry] = [
            ("contextLength", nil, .scalar("\(plan.contextLength)")),
            ("maxRunning", nil, .scalar("\(min(plan.maxConcurrencyAtMean ?? plan.maxConcurrency, 4096))")),
        ]
        if !onGPU { server.append(("kvCacheBytes", nil, .scalar("\(plan.cacheBudgetBytes)"))) }
        var model: [Node.Entry] = [
            ("engine", engine == .vllm ? plan.model.skiffEngineRefusal.map { "vLLM: \($0)" } : nil, .scalar(engine.rawValue)),
            ("replicaCount", "replicas when autoscaling is off: the peak's", .scalar("\(plan.fleet?.replicas ?? plan.replicas ?? 1)")),
            ("gpu", nil, .map(gpu)),
            ("server", nil, .map(server)),
        ]
        if plan.pipelineStages > 1 {
            model.append(("vllm", nil, .map([("extraArgs", nil, .list([quoted("--pipeline-parallel-size=\(plan.pipelineStages)")]))])))
        }
        var root: [Node.Entry] = [("model", nil, .map(model))]
        if let fleet = plan.fleet {
            let minimum = onGPU ? 1 : max(fleet.warmReplicas, 1)
            root.append(("autoscaling", nil, .map([
                ("enabled", nil, .scalar("true")),
                ("mode", nil, .scalar("hpa")),
                ("minReplicas", onGPU ? "the warm capacity is model.gpu.warmNodes"
                    : "replicas kept up: growth while the pod starts and the model loads", .scalar("\(minimum)")),
                ("maxReplicas", nil, .scalar("\(max(fleet.replicas, minimum))")),
                ("metric",
                 "running + waiting requests per pod: a queue-depth HPA sees 0 while replicas keep up and scales down until requests queue",
                 .scalar("concurrency")),
                ("targetConcurrentRequestsPerPod", nil, .scalar("\(fleet.autoscalerTargetRunningPerReplica)")),
                ("targetQueuedRequestsPerPod", "the target if you set metric: waiting (vllm:num_requests_waiting per pod)",
                 .scalar("\(fleet.autoscalerTargetWaitingPerReplica)")),
            ])))
        }
        return .map(root)
    }

    /// YAML for `plan`, with a comment saying where it came from. Throws as `values(for:)` does.
    public static func yaml(for plan: CapacityPlan, command: String) throws(SizingError) -> String {
        var lines = [
            "# Generated by: \(command)",
            "# \(plan.model.name) on \(plan.hardware): \(plan.maxConcurrency) requests at \(plan.contextLength) tokens per replica.",
            "# For the chart in deploy/helm/skiff: helm install skiff deploy/helm/skiff -f THIS_FILE",
        ]
        render(try values(for: plan), indent: "", into: &lines)
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

"""Properties of the rendered chart that the architecture depends on, per profile."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import PROFILE_NAMES, ROOT, env_of, find, one, pod_specs, render, render_error

MODEL = "rel-skiff-model"
CHAT = "rel-skiff-chat"
PLACEHOLDER = "rel-skiff-gpu-placeholder"
GPU_TAINT_KEY = "nvidia.com/gpu"
# The GPU profiles and the resource each requests: Skiff's engine through Vulkan (gpu), vLLM (the others).
GPU_PROFILES = {"gpu": "nvidia.com/gpu", "vllm": "nvidia.com/gpu", "mig": "nvidia.com/mig-1g.10gb",
                "time-sliced": "nvidia.com/gpu.shared"}
VLLM_PROFILES = ("vllm", "mig", "time-sliced")
CPU_PROFILES = (None, "cpu-only", "keda")
EVERYTHING = ("inferencePool.enabled=true", "ingress.modelAPI.enabled=true",
              "monitoring.serviceMonitor.enabled=true")
CONCURRENCY = ("autoscaling.metric=concurrency",)
WAITING = ("autoscaling.metric=waiting",)
ADAPTER_RULES = "rel-skiff-prometheus-adapter-rules"


def model_spec(docs):
    return one(docs, "Deployment", MODEL)["spec"]["template"]["spec"]


def tolerates_gpu_taint(spec) -> bool:
    return any(t.get("key") == GPU_TAINT_KEY or (t.get("operator") == "Exists" and "key" not in t)
               for t in spec.get("tolerations", []))


def gpu_resources(container) -> dict:
    res = container.get("resources", {})
    return {k: v for part in ("requests", "limits") for k, v in res.get(part, {}).items()
            if k.startswith("nvidia.com/")}


def test_every_profile_is_covered():
    assert set(PROFILE_NAMES) == set(GPU_PROFILES) | set(CPU_PROFILES)


@pytest.mark.parametrize("profile", sorted(GPU_PROFILES))
def test_gpu_pods_select_gpu_nodes_tolerate_taint_and_request_the_gpu(profile):
    docs = render(profile)
    engine = "vllm" if profile in VLLM_PROFILES else "skiff"
    assert one(docs, "Deployment", MODEL)["metadata"]["labels"]["skiff.dev/engine"] == engine
    spec = model_spec(docs)
    assert spec["nodeSelector"] == {"role": "gpu-nodes"}
    assert {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    server = spec["containers"][0]
    resource = GPU_PROFILES[profile]
    assert server["resources"]["requests"][resource] == 1
    assert server["resources"]["limits"][resource] == 1
    assert set(gpu_resources(server)) == {resource}, "exactly one GPU resource name, in requests and limits"


def test_gpu_count_is_configurable_and_vllm_shards_over_it():
    spec = model_spec(render("vllm", ("model.gpu.count=4",)))
    server = spec["containers"][0]
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert "--tensor-parallel-size=4" in server["args"]


def test_engine_skiff_on_a_gpu_computes_through_vulkan(all_sources):
    """The gpu profile: `skiff serve --device vulkan` with the memory share, and the driver's Vulkan mounted."""
    docs = render("gpu", EVERYTHING)
    spec = model_spec(docs)
    server = spec["containers"][0]
    assert server["image"].startswith("skiff:") and server["args"] == ["serve"]
    env = env_of(server)
    assert env["SKIFF_DEVICE"]["value"] == "vulkan"
    assert env["SKIFF_GPU_MEMORY_UTILIZATION"]["value"] == "0.9"
    assert "graphics" in env["NVIDIA_DRIVER_CAPABILITIES"]["value"].split(","), "the runtime mounts Vulkan only for graphics"
    for name in ("SKIFF_DEVICE", "SKIFF_GPU_MEMORY_UTILIZATION"):
        assert f'"{name}"' in all_sources, f"{name} is not read anywhere in Sources/"
    assert server["startupProbe"]["httpGet"]["path"] == "/ready"
    shared = env_of(model_spec(render("gpu", ("model.gpu.resourceName=nvidia.com/gpu.shared", "model.gpu.memoryUtilization=1")))["containers"][0])
    assert shared["SKIFF_GPU_MEMORY_UTILIZATION"]["value"] == "1"
    for profile in CPU_PROFILES:
        names = set(env_of(model_spec(render(profile))["containers"][0]))
        assert not names & {"SKIFF_DEVICE", "SKIFF_GPU_MEMORY_UTILIZATION", "NVIDIA_DRIVER_CAPABILITIES"}, profile


@pytest.mark.parametrize("profile", CPU_PROFILES)
def test_engine_skiff_holds_no_gpu_and_runs_on_the_app_nodes(profile):
    """Skiff's engine on CPUs: no GPU request, toleration, node selector or runtime class."""
    docs = render(profile, EVERYTHING)
    assert one(docs, "Deployment", MODEL)["metadata"]["labels"]["skiff.dev/engine"] == "skiff"
    spec = model_spec(docs)
    assert not tolerates_gpu_taint(spec)
    assert spec.get("nodeSelector") == {"role": "app-nodes"}
    assert "runtimeClassName" not in spec
    assert "nvidia.com" not in yaml.safe_dump(docs)
    assert not find(docs, "PriorityClass")
    limits = spec["containers"][0]["resources"]["limits"]
    assert set(limits) == {"cpu", "memory"}, "the CPU and memory limits are the engine's compute and KV cache"
    assert env_of(spec["containers"][0])["SKIFF_THREADS"]["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"


def test_defaults_fit_the_reference_app_nodes():
    """The defaults' model pod must be schedulable on one app node of the Terraform (m6i.large: 2 vCPUs, 8 GiB)."""
    requests = model_spec(render())["containers"][0]["resources"]["requests"]
    cpu = float(str(requests["cpu"]).rstrip("m")) / (1000 if str(requests["cpu"]).endswith("m") else 1)
    assert cpu <= 1.5
    assert requests["memory"].endswith("Gi") and float(requests["memory"][:-2]) <= 4


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_only_gpu_model_pods_tolerate_the_gpu_taint_or_request_gpus(profile):
    docs = render(profile, EVERYTHING)
    for name, spec in pod_specs(docs):
        gpu_pod = name == MODEL and profile in GPU_PROFILES
        containers = spec["containers"] + spec.get("initContainers", [])
        requests_gpu = any(gpu_resources(c) for c in containers)
        assert tolerates_gpu_taint(spec) == gpu_pod, name
        assert requests_gpu == gpu_pod, name


def test_chat_tier_runs_on_app_nodes_with_database_url_from_a_secret():
    docs = render()
    spec = one(docs, "Deployment", CHAT)["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"role": "app-nodes"}
    env = env_of(spec["containers"][0])
    assert env["SKIFF_CHAT_DATABASE"]["valueFrom"]["secretKeyRef"] == {"name": "skiff-chat-database", "key": "url"}
    assert "value" not in env["SKIFF_CHAT_DATABASE"]
    service = one(docs, "Service", MODEL)
    assert env["SKIFF_CHAT_LLM_URL"]["value"] == f"http://{MODEL}.skiff.svc:{service['spec']['ports'][0]['port']}/v1"
    assert env["SKIFF_CHAT_PORT"]["value"] == "8081"
    for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
        assert find(docs, kind, CHAT), f"chat tier lacks its {kind}"
    hpa = one(docs, "HorizontalPodAutoscaler", CHAT)
    assert hpa["spec"]["scaleTargetRef"]["name"] == CHAT
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_chat_tier_can_be_turned_off():
    docs = render(None, ("chat.enabled=false", "ingress.modelAPI.enabled=true"))
    assert not [d for d in docs if d["metadata"]["name"].startswith(CHAT)]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_probes_and_grace_periods_line_up(profile):
    spec = model_spec(render(profile))
    server = spec["containers"][0]
    vllm = profile in VLLM_PROFILES
    ready_path = "/health" if vllm else "/ready"
    assert server["startupProbe"]["httpGet"]["path"] == ready_path
    service = one(render(profile), "Service", MODEL)
    assert service["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] == ready_path
    assert server["readinessProbe"]["httpGet"]["path"] == ready_path
    assert server["livenessProbe"]["httpGet"]["path"] == "/health"
    startup = server["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 900, "startup budget shorter than configured"
    live = server["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] >= 60, "liveness would restart a busy server too soon"
    pre_stop = server["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = 30 if vllm else float(env_of(server)["SKIFF_GRACE_PERIOD"]["value"])
    assert spec["terminationGracePeriodSeconds"] >= pre_stop + drain + 1
    assert pre_stop >= 5, "load balancers need a moment to stop sending before SIGTERM"


def test_grace_period_follows_the_server_setting():
    spec = model_spec(render(None, ("model.server.gracePeriodSeconds=120",)))
    server = spec["containers"][0]
    assert env_of(server)["SKIFF_GRACE_PERIOD"]["value"] == "120"
    assert spec["terminationGracePeriodSeconds"] == 10 + 120 + 5


def test_startup_budget_is_configurable():
    server = model_spec(render(None, ("model.probes.startupBudgetSeconds=3600",)))["containers"][0]
    assert server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"] >= 3600


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_pod_security(profile):
    for name, spec in pod_specs(render(profile, EVERYTHING)):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert sc.get("privileged", False) is False
            assert sc["runAsUser"] >= 10000


def test_weights_come_from_the_cache_volume_not_the_image():
    docs = render()
    spec = model_spec(docs)
    init = {c["name"]: c for c in spec["initContainers"]}["pull-weights"]
    assert init["args"][:2] == ["pull", "smollm2-135m-instruct"]
    assert "--model-dir=/models" in init["args"]
    server = spec["containers"][0]
    assert env_of(server)["SKIFF_MODEL_DIR"]["value"] == "/models"
    mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True, "the server never writes the cache"
    volumes = {v["name"]: v for v in spec["volumes"]}
    claim = volumes[mounts["/models"]["name"]]["persistentVolumeClaim"]["claimName"]
    pvc = one(docs, "PersistentVolumeClaim", claim)
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_pull_takes_url_sha256_and_token_from_values_and_secret():
    sha = "ab" * 32
    spec = model_spec(render(None, (
        "model.weights.source=https://example.org/m.gguf", f"model.weights.sha256={sha}",
        "model.weights.fileName=m.gguf", "model.weights.tokenSecret.name=hub-token")))
    init = spec["initContainers"][0]
    assert init["args"][1] == "https://example.org/m.gguf"
    assert f"--sha256={sha}" in init["args"] and "--name=m.gguf" in init["args"]
    assert env_of(init)["SKIFF_PULL_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hub-token", "key": "token"}
    assert env_of(spec["containers"][0])["SKIFF_MODEL"]["value"] == "m.gguf"


def test_existing_claim_replaces_the_created_one():
    docs = render(None, ("model.cache.existingClaim=shared-models",))
    assert not find(docs, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in model_spec(docs)["volumes"]}
    assert volumes["model-cache"]["persistentVolumeClaim"]["claimName"] == "shared-models"


def test_ephemeral_cache_gives_each_pod_its_own_volume():
    docs = render(None, ("model.cache.ephemeral=true", "model.cache.storageClassName=gp3"))
    assert not find(docs, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in model_spec(docs)["volumes"]}
    template = volumes["model-cache"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert template["accessModes"] == ["ReadWriteOnce"] and template["storageClassName"] == "gp3"


def test_server_settings_use_the_servers_own_variables(all_sources):
    """Every SKIFF_* variable the chart sets is one the server or `skiff pull` reads."""
    spec = model_spec(render(None, ("model.server.apiKeySecret.name=k", "model.weights.tokenSecret.name=t",
                                    "model.server.contextLength=4096", "model.server.kvCacheBytes=2147483648")))
    names = set(env_of(spec["containers"][0])) | set(env_of(spec["initContainers"][0]))
    skiff_names = {n for n in names if n.startswith("SKIFF_")}
    assert len(skiff_names) >= 14
    for name in skiff_names:
        assert f'"{name}"' in all_sources, f"{name} is not read anywhere in Sources/"
    pull_source = (ROOT / "Sources/skiff/PullCommand.swift").read_text()
    for option in ("modelDir", "member", "name"):
        assert f"var {option}:" in pull_source
    assert 'customLong("sha256")' in pull_source


def _metric_names_in(text: str) -> set[str]:
    return set(re.findall(r"vllm:[a-z_]+", text))


def test_autoscaling_metrics_are_ones_skiff_exports():
    served = _metric_names_in((ROOT / "Sources/SkiffServer/Metrics.swift").read_text())
    assert "vllm:num_requests_waiting" in served
    for profile in (None, "keda"):
        for sets in (EVERYTHING, EVERYTHING + WAITING):
            text = yaml.safe_dump_all(render(profile, sets))
            used = _metric_names_in(text)
            assert used and used <= served, f"chart uses metrics Skiff does not export: {used - served}"


def test_hpa_scales_on_a_pods_metric_through_the_adapter_rules():
    docs = render()
    hpa = one(docs, "HorizontalPodAutoscaler", MODEL)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": MODEL}
    metric = hpa["spec"]["metrics"][0]
    assert metric["type"] == "Pods"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300, "cooldown too short for slow-starting pods"
    assert behavior["scaleUp"]["policies"][0]["type"] == "Pods"
    config = yaml.safe_load(one(docs, "ConfigMap", ADAPTER_RULES)["data"]["config.yaml"])
    exposed = {r["name"]["as"]: r["seriesQuery"] for r in config["rules"]}
    assert exposed[metric["pods"]["metric"]["name"]].startswith("vllm:num_requests_running{")
    assert "replicas" not in one(docs, "Deployment", MODEL)["spec"], "the autoscaler owns the replica count"


def _adapter_rules(docs) -> dict[str, dict]:
    """The Prometheus Adapter rules the chart renders, by the custom metric name each exposes."""
    config = yaml.safe_load(one(docs, "ConfigMap", ADAPTER_RULES)["data"]["config.yaml"])
    rules = {r["name"]["as"]: r for r in config["rules"]}
    assert len(rules) == len(config["rules"]), "two adapter rules expose the same metric name"
    return rules


def _check_adapter_rule(rule: dict):
    """What the Prometheus Adapter needs of a rule (docs/config.md of kubernetes-sigs/prometheus-adapter)."""
    assert re.fullmatch(r"[a-z_:]+\{namespace!=\"\",pod!=\"\"\}", rule["seriesQuery"])
    series = rule["seriesQuery"].split("{")[0]
    assert re.fullmatch(rule["name"]["matches"], series), "the name pattern must match the discovered series"
    assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    query = rule["metricsQuery"]
    assert "<<.LabelMatchers>>" in query and "by (<<.GroupBy>>)" in query
    assert query.count("(") == query.count(")") and query.count("{") == query.count("}")


def test_default_metric_is_concurrency():
    """docs/sizing.md's step scenario: 90.5% within the objective on running + waiting, 68.5% on waiting alone."""
    docs = render()
    hpa = one(docs, "HorizontalPodAutoscaler", MODEL)
    assert hpa["spec"]["metrics"] == [{"type": "Pods", "pods": {
        "metric": {"name": "vllm_num_requests_active"}, "target": {"type": "AverageValue", "averageValue": "12"}}}]
    trigger = one(render("keda"), "ScaledObject", MODEL)["spec"]["triggers"][0]["metadata"]
    assert trigger["query"] == ('sum({__name__=~"vllm:num_requests_running|vllm:num_requests_waiting",'
                                'namespace="skiff",pod=~"rel-skiff-model-.*"})')
    assert trigger["threshold"] == "12"
    assert render() == render(None, CONCURRENCY)


def test_queue_depth_is_still_selectable():
    docs = render(None, WAITING)
    hpa = one(docs, "HorizontalPodAutoscaler", MODEL)
    assert hpa["spec"]["metrics"] == [{"type": "Pods", "pods": {
        "metric": {"name": "vllm_num_requests_waiting"}, "target": {"type": "AverageValue", "averageValue": "5"}}}]
    rules = _adapter_rules(docs)
    assert rules["vllm_num_requests_waiting"]["metricsQuery"] == "max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"
    trigger = one(render("keda", WAITING), "ScaledObject", MODEL)["spec"]["triggers"][0]["metadata"]
    assert trigger["query"] == 'sum(vllm:num_requests_waiting{namespace="skiff",pod=~"rel-skiff-model-.*"})'
    assert trigger["threshold"] == "5"


def test_hpa_on_concurrency_reads_running_plus_waiting_through_the_adapter_rules():
    docs = render(None, CONCURRENCY + ("autoscaling.targetConcurrentRequestsPerPod=32",))
    hpa = one(docs, "HorizontalPodAutoscaler", MODEL)
    assert hpa["spec"]["metrics"] == [{"type": "Pods", "pods": {
        "metric": {"name": "vllm_num_requests_active"}, "target": {"type": "AverageValue", "averageValue": "32"}}}]
    assert hpa["spec"]["behavior"] == one(render(), "HorizontalPodAutoscaler", MODEL)["spec"]["behavior"]
    rules = _adapter_rules(docs)
    rule = rules["vllm_num_requests_active"]
    _check_adapter_rule(rule)
    assert rule["seriesQuery"] == 'vllm:num_requests_running{namespace!="",pod!=""}'
    assert rule["metricsQuery"] == ('sum({__name__=~"vllm:num_requests_running|vllm:num_requests_waiting",'
                                    '<<.LabelMatchers>>}) by (<<.GroupBy>>)')
    # The queue-depth rule stays, so the metric can be switched without touching the adapter.
    assert rules == _adapter_rules(render())
    for other in rules.values():
        _check_adapter_rule(other)
    assert "replicas" not in one(docs, "Deployment", MODEL)["spec"]


def test_concurrency_metric_name_is_configurable_and_must_not_collide():
    docs = render(None, CONCURRENCY + ("autoscaling.prometheusAdapter.concurrencyMetricName=skiff_concurrency",))
    hpa = one(docs, "HorizontalPodAutoscaler", MODEL)
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "skiff_concurrency"
    assert "skiff_concurrency" in _adapter_rules(docs)
    for name in ("vllm_num_requests_waiting", "vllm_num_requests_running"):
        error = render_error(None, CONCURRENCY + (f"autoscaling.prometheusAdapter.concurrencyMetricName={name}",))
        assert "must differ" in error


def test_keda_on_concurrency_sums_running_and_waiting_of_the_release_pods():
    docs = render("keda", CONCURRENCY + ("autoscaling.targetConcurrentRequestsPerPod=32",))
    assert not find(docs, "HorizontalPodAutoscaler", MODEL)
    trigger = one(docs, "ScaledObject", MODEL)["spec"]["triggers"][0]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["query"] == ('sum({__name__=~"vllm:num_requests_running|vllm:num_requests_waiting",'
                                            'namespace="skiff",pod=~"rel-skiff-model-.*"})')
    assert trigger["metadata"]["threshold"] == "32"


def test_concurrency_scaling_is_the_same_for_both_engines():
    sets = CONCURRENCY + ("inferencePool.enabled=true",)
    skiff, vllm = render(None, sets), render("vllm", sets)
    assert one(skiff, "HorizontalPodAutoscaler", MODEL)["spec"] == one(vllm, "HorizontalPodAutoscaler", MODEL)["spec"]
    assert _adapter_rules(skiff) == _adapter_rules(vllm)
    keda = ("autoscaling.mode=keda",) + sets
    assert (one(render(None, keda), "ScaledObject", MODEL)["spec"]
            == one(render("vllm", keda), "ScaledObject", MODEL)["spec"])


def test_keda_mode_renders_a_scaled_object_instead_of_the_hpa():
    docs = render("keda")
    assert not find(docs, "HorizontalPodAutoscaler", MODEL)
    assert not find(docs, "ConfigMap", "rel-skiff-prometheus-adapter-rules")
    scaled = one(docs, "ScaledObject", MODEL)
    assert scaled["spec"]["scaleTargetRef"]["name"] == MODEL
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert 'namespace="skiff",pod=~"rel-skiff-model-.*"' in trigger["metadata"]["query"]
    assert scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert one(docs, "ServiceMonitor", MODEL)["spec"]["endpoints"][0]["path"] == "/metrics"


def test_autoscaling_off_uses_the_replica_count():
    docs = render(None, ("autoscaling.enabled=false", "model.replicaCount=1"))
    assert one(docs, "Deployment", MODEL)["spec"]["replicas"] == 1
    assert not find(docs, "HorizontalPodAutoscaler", MODEL)


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_disruption_budgets_and_spread_select_the_right_pods(profile):
    docs = render(profile)
    for name in (MODEL, CHAT):
        labels = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        pdb = one(docs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        spec = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for c in spec["topologySpreadConstraints"]:
            assert c["labelSelector"]["matchLabels"].items() <= labels.items()


def test_scrape_annotations_point_at_metrics():
    for name in (MODEL, CHAT):
        annotations = one(render(), "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"


def test_network_policy_admits_only_chat_gateway_and_prometheus():
    docs = render(None, ("inferencePool.enabled=true",))
    policy = one(docs, "NetworkPolicy", MODEL)
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    peers = [p for rule in policy["spec"]["ingress"] for p in rule["from"]]
    components = {p["podSelector"]["matchLabels"].get("app.kubernetes.io/component")
                  for p in peers if "podSelector" in p and "namespaceSelector" not in p}
    assert components == {"chat", "epp"}
    assert any("namespaceSelector" in p for p in peers), "Prometheus must be able to scrape"
    assert not any("ipBlock" in p for p in peers), "the load balancer may not reach /v1 unless exposed"
    exposed = one(render(None, ("ingress.modelAPI.enabled=true",)), "NetworkPolicy", MODEL)
    assert any("ipBlock" in p for rule in exposed["spec"]["ingress"] for p in rule["from"])
    chat = one(docs, "NetworkPolicy", CHAT)
    egress_ports = {p["port"] for rule in chat["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 8080, 5432}


def test_ingress_sends_root_to_chat_and_v1_to_the_model_when_enabled():
    def routes(docs):
        ingress = one(docs, "Ingress", "rel-skiff")
        assert ingress["spec"]["ingressClassName"] == "alb"
        assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-type"] == "ip"
        return {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert routes(render()) == {"/": CHAT}
    assert routes(render(None, ("ingress.modelAPI.enabled=true",))) == {"/": CHAT, "/v1": MODEL}
    https = one(render(None, ("ingress.certificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/x",)),
                "Ingress", "rel-skiff")["metadata"]["annotations"]
    assert https["alb.ingress.kubernetes.io/ssl-redirect"] == "443"


def test_inference_pool_selects_the_model_pods_and_picker_reads_skiff_metrics():
    docs = render(None, ("inferencePool.enabled=true",))
    pool = one(docs, "InferencePool", "rel-skiff-pool")
    labels = one(docs, "Deployment", MODEL)["spec"]["template"]["metadata"]["labels"]
    assert pool["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pool["spec"]["targetPorts"] == [{"number": 8080}]
    assert pool["spec"]["endpointPickerRef"]["name"] == "rel-skiff-epp"
    args = one(docs, "Deployment", "rel-skiff-epp")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--total-queued-requests-metric=vllm:num_requests_waiting" in args
    assert "--kv-cache-usage-percentage-metric=vllm:kv_cache_usage_perc" in args
    assert "--pool-name=rel-skiff-pool" in args
    assert not find(docs, "HTTPRoute")
    routed = render(None, ("inferencePool.enabled=true", "inferencePool.httpRoute.enabled=true"))
    route = one(routed, "HTTPRoute", "rel-skiff-pool")
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "rel-skiff-pool"}]


def test_vllm_engine_keeps_the_same_service_and_autoscaling_wiring():
    skiff, vllm = render(), render("vllm")
    assert one(skiff, "Service", MODEL)["spec"] == one(vllm, "Service", MODEL)["spec"]
    assert one(vllm, "Service", MODEL)["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] == "/health"
    assert one(skiff, "HorizontalPodAutoscaler", MODEL)["spec"] == one(vllm, "HorizontalPodAutoscaler", MODEL)["spec"]
    server = model_spec(vllm)["containers"][0]
    assert server["image"].startswith("vllm/vllm-openai:")
    assert server["ports"] == model_spec(skiff)["containers"][0]["ports"]
    assert "--served-model-name=qwen2.5-1.5b-instruct" in server["args"]


def test_resource_quota_caps_the_selected_gpu_resource():
    quota = one(render("mig"), "ResourceQuota", "rel-skiff-quota")
    assert quota["spec"]["hard"]["requests.nvidia.com/mig-1g.10gb"] == "7"


def test_images_pin_by_digest_when_given():
    digest = "sha256:" + "0" * 64
    spec = model_spec(render(None, (f"model.image.digest={digest}",)))
    assert spec["containers"][0]["image"] == f"skiff@{digest}"
    assert spec["initContainers"][0]["image"] == f"skiff@{digest}"


def test_names_the_docs_and_terraform_use_exist_for_a_release_named_skiff():
    """docs/deploy.md and the Terraform name resources of the release `skiff` in namespace skiff."""
    docs = render(release="skiff")
    for kind, name in [("Deployment", "skiff-model"), ("Service", "skiff-model"), ("Deployment", "skiff-chat"),
                       ("Ingress", "skiff"), ("HorizontalPodAutoscaler", "skiff-model"),
                       ("ConfigMap", "skiff-prometheus-adapter-rules")]:
        one(docs, kind, name)
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for reference in ("deploy/skiff-model", "svc/skiff-model", "get ingress skiff", "hpa skiff-model"):
        assert reference in guide
    terraform = (ROOT / "deploy" / "terraform" / "eks" / "main.tf").read_text()
    assert 'existing = "skiff-prometheus-adapter-rules"' in terraform
    assert 'name      = "skiff"' in terraform


# Warm GPU nodes: the cluster autoscaler's overprovisioning pattern (model.gpu.warmNodes).

WARM = ("model.gpu.warmNodes=3",)


def test_warm_nodes_render_low_priority_placeholders_that_request_a_replicas_gpus():
    docs = render("vllm", WARM)
    priority = one(docs, "PriorityClass", PLACEHOLDER)
    assert priority["apiVersion"] == "scheduling.k8s.io/v1"
    # Below every real pod (0), at the cluster autoscaler's default --expendable-pods-priority-cutoff (-10):
    # lower, and a Pending placeholder would no longer make it add a node.
    assert priority["value"] == -10
    assert priority["globalDefault"] is False
    assert "preemptionPolicy" not in priority
    placeholders = one(docs, "Deployment", PLACEHOLDER)
    assert placeholders["spec"]["replicas"] == 3
    spec = placeholders["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == PLACEHOLDER
    assert spec["terminationGracePeriodSeconds"] == 0, "a preempting replica should not wait for the placeholder"
    model = model_spec(docs)
    assert spec["nodeSelector"] == model["nodeSelector"] == {"role": "gpu-nodes"}
    assert spec["tolerations"] == model["tolerations"]
    pause = spec["containers"][0]
    assert pause["image"].startswith("registry.k8s.io/pause:")
    assert pause["resources"] == model["containers"][0]["resources"], "a placeholder holds exactly one replica's room"
    assert gpu_resources(pause) == {"nvidia.com/gpu": 1}
    anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname", "one placeholder per node: warmNodes counts nodes"
    labels = placeholders["spec"]["template"]["metadata"]["labels"]
    assert anti["labelSelector"]["matchLabels"].items() <= labels.items()
    assert placeholders["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # Nothing that selects the model pods selects the placeholders, and they may talk to nothing.
    model_labels = one(docs, "Deployment", MODEL)["spec"]["selector"]["matchLabels"]
    assert not model_labels.items() <= labels.items()
    policy = one(docs, "NetworkPolicy", PLACEHOLDER)["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in policy and "egress" not in policy


@pytest.mark.parametrize("profile", sorted(GPU_PROFILES))
def test_placeholders_follow_each_gpu_profile(profile):
    docs = render(profile, WARM + ("resourceQuota.gpus=16",))
    pause = one(docs, "Deployment", PLACEHOLDER)["spec"]["template"]["spec"]["containers"][0]
    assert gpu_resources(pause) == {GPU_PROFILES[profile]: 1}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_no_warm_nodes_by_default(profile):
    docs = render(profile)
    assert not find(docs, "PriorityClass")
    assert not find(docs, "Deployment", PLACEHOLDER)
    assert render("vllm") == render("vllm", ("model.gpu.warmNodes=0",))


def test_warm_nodes_count_against_the_gpu_quota():
    docs = render("mig", ("model.gpu.warmNodes=3",))
    assert one(docs, "ResourceQuota", "rel-skiff-quota")["spec"]["hard"]["requests.nvidia.com/mig-1g.10gb"] == "7"
    error = render_error("mig", ("model.gpu.warmNodes=4",))
    assert "resourceQuota.gpus (7) is below the 8 nvidia.com/mig-1g.10gb" in error


def test_the_vllm_profiles_run_vllm_on_the_models_vllm_loads():
    for profile in VLLM_PROFILES:
        server = model_spec(render(profile))["containers"][0]
        assert server["image"].startswith("vllm/vllm-openai:")
        assert "--served-model-name=qwen2.5-1.5b-instruct" in server["args"]
    time_sliced = model_spec(render("time-sliced"))["containers"][0]["args"]
    assert "--gpu-memory-utilization=0.45" in time_sliced, "replicas sharing a GPU must not each take 90% of it"

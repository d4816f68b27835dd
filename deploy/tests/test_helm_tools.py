"""The chart through real tools: helm lint --strict, kubernetes-validate --strict, checkov, trivy."""

from __future__ import annotations

import shutil

import pytest
import yaml

from conftest import CHART, PROFILE_NAMES, ROOT, helm_args, render_error, render_text, run, tool

# Oldest Kubernetes the chart supports (Chart.yaml kubeVersion; preStop sleep needs 1.30) and a
# current release.
KUBERNETES_VERSIONS = ["1.30", "1.34"]

# Everything optional switched on at once, so every template is checked by the tools.
EVERYTHING = ("inferencePool.enabled=true", "inferencePool.httpRoute.enabled=true", "ingress.modelAPI.enabled=true",
              "monitoring.serviceMonitor.enabled=true", "resourceQuota.enabled=true",
              "model.server.apiKeySecret.name=skiff-api-keys", "model.weights.tokenSecret.name=hf")

# The warm GPU nodes' placeholders and their PriorityClass (quota raised to hold them).
WARM_NODES = ("model.gpu.warmNodes=2", "resourceQuota.gpus=6")

# Kinds from CRDs that kubernetes-validate has no schema for; their key fields are asserted in
# test_helm_properties.py instead.
CRD_KINDS = {"InferencePool", "HTTPRoute", "ServiceMonitor", "ScaledObject"}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_helm_lint_strict(profile):
    result = run([tool("helm"), "lint", "--strict", str(CHART)] + helm_args(profile))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("sets, message", [
    (("model.engine=tgi",), "model.engine must be one of"),
    (("model.gpux=1",), "Additional property gpux is not allowed"),
    (("model.gpu.resourceName=amd.com/gpu",), "model.gpu.resourceName"),
    (("model.weights.sha256=abc",), "model.weights.sha256"),
    (("model.server.contextLength=8",), "model.server.contextLength"),
    (("chat.auth=oauth",), "chat.auth"),
    (("ingress.certificateArn=not-an-arn",), "ingress.certificateArn"),
    (("autoscaling.metric=running",), "autoscaling.metric must be one of"),
    (("autoscaling.targetConcurrentRequestsPerPod=0",), "autoscaling.targetConcurrentRequestsPerPod"),
    (("autoscaling.prometheusAdapter.concurrencyMetricName=vllm:active",),
     "autoscaling.prometheusAdapter.concurrencyMetricName"),
    (("model.gpu.warmNodes=-1",), "model.gpu.warmNodes"),
])
def test_schema_refuses_bad_values(sets, message):
    result = run([tool("helm"), "lint", "--strict", str(CHART)] + helm_args(None, sets))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


@pytest.mark.parametrize("sets, message", [
    (("model.cache.accessModes={ReadWriteOnce}",), "a ReadWriteOnce claim attaches to one node"),
    (("model.engine=vllm", "model.gpu.enabled=false"), "model.engine=vllm needs NVIDIA GPUs"),
    (("autoscaling.minReplicas=0",), "needs autoscaling.mode=keda"),
    (("autoscaling.prometheusAdapter.concurrencyMetricName=vllm_num_requests_waiting",),
     "concurrencyMetricName (vllm_num_requests_waiting) must differ"),
    (("chat.tolerations[0].key=nvidia.com/gpu", "chat.tolerations[0].operator=Exists"),
     "chat.tolerations must not tolerate nvidia.com/gpu"),
    (("chat.databaseSecret.name=",), "chat.databaseSecret.name is required"),
    (("model.engine=vllm", "model.gpu.enabled=true", "model.gpu.count=0"), "model.gpu.count must be at least 1"),
    # Skiff's engine on CPUs: no GPU request, GPU toleration or GPU node selector.
    (("model.tolerations[0].key=nvidia.com/gpu", "model.tolerations[0].operator=Exists"),
     "model.tolerations must not tolerate nvidia.com/gpu with model.engine=skiff on the CPU"),
    (("model.tolerations[0].operator=Exists",), "model.tolerations must not tolerate nvidia.com/gpu with model.engine=skiff on the CPU"),
    (("model.resources.limits.nvidia\\.com/gpu=1",), "model.resources.limits.nvidia.com/gpu: GPUs come from model.gpu"),
    (("model.resources.requests.nvidia\\.com/mig-1g\\.10gb=1",), "model.resources.requests.nvidia.com/mig-1g.10gb"),
    (("model.cpuNodeSelector.role=gpu-nodes",), "model.cpuNodeSelector role=gpu-nodes selects the GPU nodes"),
    (("model.gpu.warmNodes=2",), "model.gpu.warmNodes keeps GPU nodes warm for GPU replicas"),
    # Skiff's engine on a GPU: one whole (or time-sliced) GPU through Vulkan, never a MIG slice.
    (("model.gpu.enabled=true", "model.gpu.count=2"), "model.gpu.count=2 with model.engine=skiff"),
    (("model.gpu.enabled=true", "model.gpu.resourceName=nvidia.com/mig-1g.10gb"), "NVIDIA's driver offers no Vulkan on MIG slices"),
    (("model.gpu.enabled=true", "model.resources.limits.nvidia\\.com/gpu=1"), "GPUs come from model.gpu"),
])
def test_templates_refuse_incoherent_values(sets, message):
    assert message in render_error(None, sets)


@pytest.mark.parametrize("profile", [None, "keda", "gpu", "vllm"])
def test_helm_lint_strict_scaling_on_queue_depth(profile):
    result = run([tool("helm"), "lint", "--strict", str(CHART)]
                 + helm_args(profile, ("autoscaling.metric=waiting",)))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("profile, sets", [(p, ()) for p in PROFILE_NAMES]
                         + [(None, ("autoscaling.metric=waiting",)), ("vllm", WARM_NODES), ("gpu", WARM_NODES)])
def test_kubernetes_validate_strict(profile, sets, version, tmp_path):
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(render_text(profile, EVERYTHING + sets))
    result = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, str(manifest)])
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and not any(f"kind {k} " in line for k in CRD_KINDS)]
    assert result.returncode == 0 and not problems, "\n".join(problems)


def _all_profiles_manifest(tmp_path):
    manifest = tmp_path / "all-profiles.yaml"
    renders = [render_text(p, EVERYTHING) for p in PROFILE_NAMES] + [render_text(p, EVERYTHING + WARM_NODES) for p in ("vllm", "gpu")]
    manifest.write_text("\n---\n".join(renders))
    return manifest


def test_checkov_kubernetes(tmp_path):
    """No failed check left: the skipped ones are explained in deploy/tests/checkov-kubernetes.yaml."""
    manifest = _all_profiles_manifest(tmp_path)
    result = run([tool("checkov"), "--skip-download", "--quiet", "--compact", "--framework", "kubernetes",
                  "--config-file", str(ROOT / "deploy" / "tests" / "checkov-kubernetes.yaml"),
                  "-f", str(manifest)])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Passed checks:" in result.stdout


def test_trivy_no_high_or_critical(tmp_path):
    manifest = _all_profiles_manifest(tmp_path)
    result = run([tool("trivy"), "config", "--skip-check-update", "--disable-telemetry", "--skip-version-check",
                  "--quiet", "--severity", "HIGH,CRITICAL", "--exit-code", "1", str(manifest)])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.parametrize("profile, caveat", [(None, True), ("vllm", False), ("gpu", False), ("cpu-only", True)])
def test_install_notes_render(profile, caveat, tmp_path):
    """NOTES.txt only renders on install (which needs a cluster), so render it as a ConfigMap."""
    chart = tmp_path / "skiff"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes_check.tpl").write_text('{{- define "notes-check" -}}\n' + notes + "\n{{- end -}}\n")
    (chart / "templates" / "notes-check.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-check\ndata:\n"
        '  notes: {{ include "notes-check" . | quote }}\n')
    result = run([tool("helm"), "template", "skiff", str(chart), "--namespace", "skiff",
                  "--show-only", "templates/notes-check.yaml"] + helm_args(profile))
    assert result.returncode == 0, result.stderr
    text = yaml.safe_load(result.stdout)["data"]["notes"]
    assert "http://skiff-model.skiff.svc:8080/v1" in text
    assert ("kubectl -n skiff logs deploy/skiff-model -c pull-weights -f" in text) == (profile != "vllm")
    assert "kubectl -n skiff logs deploy/skiff-model -c model -f" in text
    assert ("to compute on a GPU, add -f profiles/gpu.yaml" in text) == caveat
    assert ("CPU only, no GPU" in text) == caveat
    assert ("(engine skiff through Vulkan, 1 × nvidia.com/gpu per pod" in text) == (profile == "gpu")

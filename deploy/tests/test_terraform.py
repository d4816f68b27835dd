"""Terraform for EKS: fmt, validate where a provider is at hand, checkov, trivy, and key properties
read with python-hcl2 (no AWS provider can be downloaded here, so `plan` is impossible)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml

from conftest import CHART, ROOT, render, run, tool

EKS = ROOT / "deploy" / "terraform" / "eks"
CLUSTER = EKS / "modules" / "cluster"
AWS_PROVIDER_MIRROR = Path("/opt/tf-plugins")


def _is_block_body(value: dict) -> bool:
    """python-hcl2 wraps each attribute of a block in a list; a map's values are left as they are."""
    attributes = [v for k, v in value.items() if not k.startswith("__")]
    return bool(attributes) and all(isinstance(v, list) for v in attributes)


def _plain(value):
    """Unwraps python-hcl2's attribute lists and quoted keys, so blocks read like the source."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    block = _is_block_body(value)
    plain = {}
    for key, item in value.items():
        if key.startswith("__"):
            continue
        if block and isinstance(item, list) and len(item) == 1:
            item = item[0]
        plain[key.strip('"')] = _plain(item)
    return plain


def parse(directory: Path) -> dict[str, list]:
    """Every block of the .tf files in a directory, merged by block type."""
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            for key, found in hcl2.load(f).items():
                merged.setdefault(key, []).extend(_plain(found))
    return merged


def blocks(parsed: dict, kind: str, type_name: str) -> dict[str, dict]:
    """resource/data blocks of one type by name."""
    found = {}
    for block in parsed.get(kind, []):
        for t, named in block.items():
            if t == type_name:
                found.update(named)
    return found


def resource(parsed: dict, type_name: str, name: str) -> dict:
    found = blocks(parsed, "resource", type_name)
    assert name in found, f"resource {type_name}.{name} is missing"
    return found[name]


def variables(parsed: dict) -> dict[str, dict]:
    return {k: v for block in parsed.get("variable", []) for k, v in block.items()}


def first(value):
    """python-hcl2 gives nested blocks as lists of one dict."""
    return value[0] if isinstance(value, list) else value


@pytest.fixture(scope="module")
def cluster() -> dict:
    return parse(CLUSTER)


@pytest.fixture(scope="module")
def root() -> dict:
    return parse(EKS)


def test_terraform_fmt():
    result = run([tool("terraform"), "fmt", "-recursive", "-check", "-diff", str(EKS)])
    assert result.returncode == 0, result.stdout + result.stderr


def _terraform_with_aws_provider() -> str | None:
    """A Terraform of 1.5 or newer plus a local AWS provider mirror, when this machine has both."""
    binary = shutil.which("terraform")
    if not binary or not (AWS_PROVIDER_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        return None
    version = subprocess.run([binary, "version", "-json"], capture_output=True, text=True, timeout=60)
    match = re.search(r'"terraform_version":\s*"(\d+)\.(\d+)', version.stdout)
    return binary if match and (int(match[1]), int(match[2])) >= (1, 5) else None


def test_cluster_module_validates_against_the_real_aws_provider(tmp_path):
    binary = _terraform_with_aws_provider()
    if binary is None:
        pytest.skip(f"no Terraform >= 1.5 with an AWS provider mirror at {AWS_PROVIDER_MIRROR} on this machine")
    work = tmp_path / "cluster"
    shutil.copytree(CLUSTER, work)
    rc = tmp_path / "terraformrc"
    rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{AWS_PROVIDER_MIRROR}"\n'
                  '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n')
    env = {"TF_CLI_CONFIG_FILE": str(rc), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    init = run([binary, "init", "-backend=false", "-input=false", "-no-color"], cwd=work, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = run([binary, "validate", "-no-color"], cwd=work, env=env)
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_checkov_terraform():
    """Each skipped check carries its reason as a `checkov:skip` comment beside the resource."""
    result = run([tool("checkov"), "--skip-download", "--quiet", "--compact", "--framework", "terraform",
                  "-d", str(EKS)])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Passed checks:" in result.stdout


def test_trivy_terraform_no_high_or_critical():
    result = run([tool("trivy"), "config", "--skip-check-update", "--disable-telemetry", "--skip-version-check",
                  "--quiet", "--severity", "HIGH,CRITICAL", "--exit-code", "1", str(EKS)])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_gpu_node_group_is_labelled_tainted_and_may_scale_to_zero(cluster, root):
    gpu = resource(cluster, "aws_eks_node_group", "gpu")
    assert gpu["node_group_name"] == "gpu-nodes"
    assert gpu["labels"] == {"role": "gpu-nodes"}
    assert first(gpu["taint"]) == {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
    assert "NVIDIA" in gpu["ami_type"]
    scaling = first(gpu["scaling_config"])
    assert scaling["min_size"] == "${var.gpu_sizes.min}"
    root_vars = variables(root)
    assert root_vars["gpu_min_size"]["default"] == 0
    assert root_vars["gpu_desired_size"]["default"] == 1
    assert root_vars["gpu_max_size"]["default"] >= 1
    assert "var.gpu_min_size >= 0" in first(root_vars["gpu_min_size"]["validation"])["condition"]
    assert root_vars["gpu_instance_types"]["default"] == ["g5.xlarge"]


def test_autoscaler_can_scale_the_gpu_group_up_from_zero(cluster):
    tags = resource(cluster, "aws_autoscaling_group_tag", "gpu_node_template")["for_each"]
    assert tags["k8s.io/cluster-autoscaler/node-template/label/role"] == "gpu-nodes"
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu" in tags


def test_app_node_group_is_untainted(cluster):
    app = resource(cluster, "aws_eks_node_group", "app")
    assert app["node_group_name"] == "app-nodes"
    assert app["labels"] == {"role": "app-nodes"}
    assert "taint" not in app


def test_encryption_is_on_everywhere(cluster):
    eks = resource(cluster, "aws_eks_cluster", "this")
    encryption = first(eks["encryption_config"])
    assert encryption["resources"] == ["secrets"]
    assert first(encryption["provider"])["key_arn"] == "${aws_kms_key.this.arn}"
    assert resource(cluster, "aws_kms_key", "this")["enable_key_rotation"] is True
    template = resource(cluster, "aws_launch_template", "node")
    ebs = first(first(template["block_device_mappings"])["ebs"])
    assert ebs["encrypted"] is True
    assert first(template["metadata_options"])["http_tokens"] == "required"
    assert resource(cluster, "aws_efs_file_system", "models")["encrypted"] is True
    db = resource(cluster, "aws_db_instance", "chat")
    assert db["storage_encrypted"] is True and db["publicly_accessible"] is False
    ecr = resource(cluster, "aws_ecr_repository", "image")
    assert first(ecr["encryption_configuration"])["encryption_type"] == "KMS"
    assert ecr["image_tag_mutability"] == "IMMUTABLE"
    assert set(eks["enabled_cluster_log_types"]) >= {"api", "audit", "authenticator"}


def test_api_endpoint_is_never_open_to_the_world(root, cluster):
    condition = first(variables(root)["api_public_access_cidrs"]["validation"])["condition"]
    assert '0.0.0.0/0' in condition and condition.startswith("${!contains")
    vpc_config = first(resource(cluster, "aws_eks_cluster", "this")["vpc_config"])
    assert vpc_config["public_access_cidrs"] == "${var.api_public_access_cidrs}"


def test_controllers_get_irsa_roles_and_csi_addons(cluster):
    roles = blocks(cluster, "data", "aws_iam_policy_document")["irsa"]["for_each"]
    assert roles == {
        "ebs_csi": "kube-system:ebs-csi-controller-sa",
        "efs_csi": "kube-system:efs-csi-controller-sa",
        "lb_controller": "kube-system:aws-load-balancer-controller",
        "cluster_autoscaler": "kube-system:cluster-autoscaler",
    }
    addons = {a["addon_name"] for a in blocks(cluster, "resource", "aws_eks_addon").values()}
    assert addons == {"aws-ebs-csi-driver", "aws-efs-csi-driver", "vpc-cni"}
    cni = resource(cluster, "aws_eks_addon", "vpc_cni")
    assert "enableNetworkPolicy" in cni["configuration_values"], "NetworkPolicies need the VPC CNI's enforcement"


def test_helm_releases_install_the_gpu_stack_and_the_skiff_chart(root):
    releases = blocks(root, "resource", "helm_release")
    assert {"nvidia_device_plugin", "aws_load_balancer_controller", "cluster_autoscaler",
            "kube_prometheus_stack", "prometheus_adapter", "skiff"} <= set(releases)
    plugin = releases["nvidia_device_plugin"]
    assert plugin["chart"] == "nvidia-device-plugin"
    assert "nvidia.com/gpu" in plugin["values"][0] and "gpu-nodes" in plugin["values"][0]
    skiff = releases["skiff"]
    assert skiff["chart"] == "${path.module}/../../helm/skiff"
    assert (EKS / "../../helm/skiff/Chart.yaml").resolve() == CHART / "Chart.yaml"
    assert skiff["wait"] is False, "a first start waiting on a GPU node and a download must not block apply"


def _locals(root) -> dict:
    return {k: v for block in root.get("locals", []) for k, v in block.items()}


def test_engine_skiff_holds_no_gpu_and_leaves_the_gpu_group_empty(root):
    """The chart's defaults are Skiff's engine on the app nodes; the release adds GPUs only with a GPU profile."""
    engine = variables(root)["model_engine"]
    assert engine["default"] == "skiff"
    assert "contains(['skiff', 'skiff-gpu', 'vllm'],var.model_engine)" in first(engine["validation"])["condition"]
    local = _locals(root)
    assert local["engine_profile"] == "${{'skiff': '', 'skiff-gpu': 'gpu.yaml', 'vllm': 'vllm.yaml'}[var.model_engine]}"
    assert local["on_gpu"] == '${local.engine_profile != ""}'
    for profile in ("gpu.yaml", "vllm.yaml"):
        assert (CHART / "profiles" / profile).is_file()
    # On CPUs the GPU group starts with no node and keeps none; on GPUs it gets the configured sizes.
    assert local["gpu_sizes"] == ("${local.on_gpu ? {'min': '${var.gpu_min_size}', 'desired': '${var.gpu_desired_size}', "
                                  "'max': '${var.gpu_max_size}'} : {'min': 0, 'desired': 0, 'max': '${var.gpu_max_size}'}}")
    assert first(root["module"])["cluster"]["gpu_sizes"] == "${local.gpu_sizes}"
    skiff = blocks(root, "resource", "helm_release")["skiff"]
    values = skiff["values"]
    # The only GPU settings the release passes come with the engine's GPU profile.
    assert values.startswith('${compact([\'${local.on_gpu ? file("${path.module}/../../helm/skiff/profiles/${local.engine_profile}") : ""}\'')
    assert "nvidia.com" not in values
    assert re.search(r"'gpu\W+: \{\W+warmNodes\W+: \W+\$\{var\.gpu_warm_nodes\}", values), values
    conditions = [p["condition"] for p in skiff["lifecycle"]["precondition"]]
    assert "${local.on_gpu || var.gpu_warm_nodes == 0}" in conditions, "warm GPU nodes only on GPUs"
    assert variables(root)["gpu_warm_nodes"]["default"] == 0


def test_what_the_release_renders_for_each_engine():
    """The chart as the release installs it: skiff requests no GPU; skiff-gpu and vllm (their profiles) request one,
    warm nodes on."""
    skiff = render(release="skiff")
    assert "nvidia.com" not in yaml.safe_dump(skiff)
    model = [d for d in skiff if d["kind"] == "Deployment" and d["metadata"]["name"] == "skiff-model"][0]
    assert model["spec"]["template"]["spec"]["nodeSelector"] == {"role": "app-nodes"}
    for profile in ("gpu", "vllm"):
        docs = render(profile, ("model.gpu.warmNodes=1",), release="skiff")
        model = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "skiff-model"][0]
        assert model["spec"]["template"]["spec"]["nodeSelector"] == {"role": "gpu-nodes"}
        assert [d["metadata"]["name"] for d in docs if d["kind"] == "PriorityClass"] == ["skiff-gpu-placeholder"]


def test_terraform_and_chart_agree_on_names(root, cluster):
    """The chart's defaults must find what the Terraform creates."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    gpu = resource(cluster, "aws_eks_node_group", "gpu")
    assert values["model"]["gpu"]["nodeSelector"] == gpu["labels"]
    assert values["model"]["gpu"]["tolerations"][0]["key"] == first(gpu["taint"])["key"]
    assert values["chat"]["nodeSelector"] == resource(cluster, "aws_eks_node_group", "app")["labels"]
    storage_class = resource(root, "kubernetes_storage_class_v1", "efs")
    assert first(storage_class["metadata"])["name"] == values["model"]["cache"]["storageClassName"]
    assert storage_class["parameters"]["uid"] == str(values["security"]["runAsUser"])
    secret = resource(root, "kubernetes_secret_v1", "chat_database")
    assert first(secret["metadata"])["name"] == values["chat"]["databaseSecret"]["name"]
    assert values["chat"]["databaseSecret"]["key"] in secret["data"]
    adapter = blocks(root, "resource", "helm_release")["prometheus_adapter"]
    rules_map = [d for d in render(release="skiff") if d["kind"] == "ConfigMap"][0]
    assert f"'existing': '{rules_map['metadata']['name']}'" in adapter["values"][0]
    assert rules_map["metadata"]["namespace"] == adapter["namespace"]


def test_outputs_give_a_kubeconfig(root):
    outputs = {k for block in root.get("output", []) for k in block}
    assert {"kubeconfig", "kubeconfig_command", "cluster_name", "ecr_repository_urls"} <= outputs

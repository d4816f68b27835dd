"""The container images: hadolint, and the skiff image built with podman from a local Debian base,
run with runc (read-only root, the model directory mounted) and asked for /ready and one chat
completion over loopback, on the CPU and on a Vulkan device (Mesa's lavapipe added to the image, as
the NVIDIA container runtime adds the NVIDIA driver's Vulkan library on a GPU node)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, run, tool

CONTAINER = ROOT / "deploy" / "container"
CONTAINERFILES = sorted(p for p in CONTAINER.iterdir() if "Containerfile" in p.name and not p.name.endswith(".dockerignore"))
IMAGE = "localhost/skiff:deploy-test"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Only these work here (tooling.md F4): runc, and ulimits no higher than the machine's hard limits.
PODMAN_RUN = ["podman", "--runtime", "runc", "run", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def model_dir() -> Path:
    """Where `skiff pull` keeps models (the same order as ModelStore: env, XDG, home)."""
    if os.environ.get("SKIFF_MODEL_DIR"):
        return Path(os.environ["SKIFF_MODEL_DIR"])
    if os.environ.get("XDG_CACHE_HOME", "").startswith("/"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "skiff" / "models"
    return Path.home() / ".cache" / "skiff" / "models"


@pytest.mark.parametrize("containerfile", CONTAINERFILES, ids=lambda p: p.name)
def test_hadolint(containerfile):
    result = run([tool("hadolint"), "--no-color", "--config", str(CONTAINER / ".hadolint.yaml"), str(containerfile)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_containerfiles_take_base_images_as_build_arguments():
    for path in (CONTAINER / "Containerfile", CONTAINER / "Containerfile.chat"):
        text = path.read_text()
        assert "ARG BUILDER_IMAGE=" in text and "ARG RUNTIME_IMAGE=" in text
        assert "FROM ${BUILDER_IMAGE} AS build" in text and "FROM ${RUNTIME_IMAGE}" in text
        assert "--static-swift-stdlib" in text and "-c release" in text
        assert "USER 10001:10001" in text
        assert ".gguf" not in text, "no weights in images"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def build_image(containerfile: Path, tag: str) -> str:
    """Builds an image from one of the Containerfiles on the local bases."""
    for binary in ("podman", "runc", "debootstrap"):
        if not shutil.which(binary):
            pytest.fail(f"{binary} is missing: deploy/tests/install-tools.sh installs it (as root)")
    base = run([str(CONTAINER / "local-base.sh")], timeout=900)
    assert base.returncode == 0, base.stdout + base.stderr
    # The toolchain and the package mirror are mounted, not copied. One .build under .tools/ serves
    # both images (the chat build reuses the compiled dependencies) and later local runs; CI starts
    # from a fresh clone, so it builds everything once.
    build_cache = ROOT / ".tools" / "container-build"
    build_cache.mkdir(parents=True, exist_ok=True)
    build = run(["podman", "build", "--isolation", "chroot", "-f", str(containerfile),
                 "--ignorefile", str(CONTAINER / "Containerfile.dockerignore"),
                 "--build-arg", "BUILDER_IMAGE=localhost/swift-build-base:bookworm",
                 "--build-arg", "RUNTIME_IMAGE=localhost/debian:bookworm",
                 "--volume", "/opt/swift:/opt/swift:ro", "--volume", "/opt/swift-packages:/opt/swift-packages:ro",
                 "--volume", f"{build_cache}:/src/.build", "-t", tag, str(ROOT)], timeout=3000)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return tag


def wait_ready(base: str, container: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        try:
            status, _ = _get(base + "/ready")
        except (urllib.error.URLError, ConnectionError, OSError):
            status = None
        if status == 200:
            return
        time.sleep(1)
    logs = run(["podman", "logs", container]).stderr[-3000:]
    pytest.fail(f"{base}/ready never answered 200 (last: {status}); logs:\n{logs}")


@pytest.fixture(scope="module")
def image():
    """The skiff image from deploy/container/Containerfile."""
    return build_image(CONTAINER / "Containerfile", IMAGE)


@pytest.fixture(scope="module")
def chat_image():
    """The skiff-chat image, once the package has the skiff-chat product (issue 7)."""
    if '.executable(name: "skiff-chat"' not in (ROOT / "Package.swift").read_text():
        pytest.skip("Package.swift has no skiff-chat product yet (issue 7); Containerfile.chat is only linted")
    return build_image(CONTAINER / "Containerfile.chat", "localhost/skiff-chat:deploy-test")


def test_image_runs_as_non_root_and_holds_no_weights(image):
    config = json.loads(run(["podman", "image", "inspect", image]).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/skiff"]
    found = run([*PODMAN_RUN, "--rm", "--user", "0:0", "--entrypoint", "/usr/bin/find", image,
                 "/", "-xdev", "-name", "*.gguf"])
    assert found.returncode == 0 and found.stdout.strip() == "", found.stdout + found.stderr
    who = run([*PODMAN_RUN, "--rm", "--entrypoint", "/usr/bin/id", image, "-u"])
    assert who.stdout.strip() == "10001", who.stdout + who.stderr


def test_init_container_pull_works_on_a_read_only_root(image, tmp_path):
    """What the chart's init container does: `skiff pull` into the cache volume, checked by sha256."""
    models = model_dir()
    if not (models / MODEL_FILE).exists():
        pytest.fail(f"{models / MODEL_FILE} is missing: run `skiff pull` first (make test does)")
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, 0o777)
    sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    pulled = run([*PODMAN_RUN, "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                  "-v", f"{models}:/source:ro", "-v", f"{cache}:/models", image,
                  "pull", f"/source/{MODEL_FILE}", "--model-dir=/models", f"--sha256={sha256}", "--quiet"])
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert pulled.stdout.strip() == f"/models/{MODEL_FILE}"
    assert (cache / MODEL_FILE).stat().st_size == (models / MODEL_FILE).stat().st_size
    again = run([*PODMAN_RUN, "--rm", "--read-only", "-v", f"{cache}:/models", image,
                 "pull", "/nonexistent.gguf", "--model-dir=/models", "--quiet"])
    assert again.returncode != 0 and "nonexistent" in again.stdout + again.stderr


def start_model_service(image: str, environment: dict[str, str]) -> tuple[str, str]:
    """Starts `skiff serve` from `image` as the chart runs it (read-only root, no capabilities, the model directory
    mounted read-only) with `environment` added; returns the container's name and the service's base URL."""
    models = model_dir()
    if not (models / MODEL_FILE).exists():
        pytest.fail(f"{models / MODEL_FILE} is missing: run `skiff pull` first (make test does)")
    port = _free_port()
    name = f"skiff-deploy-test-{port}"
    variables = [item for key, value in {"SKIFF_MODEL": MODEL_FILE, "SKIFF_THREADS": "2", **environment}.items()
                 for item in ("-e", f"{key}={value}")]
    started = run([*PODMAN_RUN, "-d", "--name", name, "--read-only", "--tmpfs", "/tmp",
                   "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                   "-v", f"{models}:/models:ro", *variables, "-p", f"127.0.0.1:{port}:8080", image])
    assert started.returncode == 0, started.stdout + started.stderr
    return name, f"http://127.0.0.1:{port}"


def ask(base: str, max_tokens: int, timeout: float) -> dict:
    """One chat completion at temperature 0."""
    body = json.dumps({"model": "SmolLM2-135M-Instruct.Q4_1", "max_tokens": max_tokens, "temperature": 0,
                       "messages": [{"role": "user", "content": "What is the capital of France?"}]}).encode()
    request = urllib.request.Request(base + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def test_image_serves_ready_and_a_chat_completion(image):
    name, base = start_model_service(image, {})
    try:
        wait_ready(base, name, 180)
        assert _get(base + "/health")[0] == 200
        answer = ask(base, 8, 60)
        assert answer["object"] == "chat.completion"
        assert answer["choices"][0]["message"]["role"] == "assistant"
        assert answer["choices"][0]["message"]["content"].strip()
        assert answer["usage"]["completion_tokens"] >= 1
        process_user = run(["podman", "exec", name, "/usr/bin/id", "-u"])
        assert process_user.stdout.strip() == "10001"
    finally:
        run(["podman", "rm", "-f", "-t", "5", name])


# What a GPU node's container runtime adds to the image, with a software Vulkan device in its place: a
# Vulkan driver and its ICD file. Everything else is the image as it ships.
LAVAPIPE_LAYER = """\
FROM {image}
USER 0:0
RUN apt-get update && apt-get install -y --no-install-recommends mesa-vulkan-drivers && rm -rf /var/lib/apt/lists/*
USER 10001:10001
"""


@pytest.fixture(scope="module")
def lavapipe_image(image, tmp_path_factory):
    """The skiff image with Mesa's software Vulkan device (lavapipe) in it."""
    context = tmp_path_factory.mktemp("lavapipe")
    (context / "Containerfile").write_text(LAVAPIPE_LAYER.format(image=image))
    tag = "localhost/skiff-lavapipe:deploy-test"
    build = run(["podman", "build", "--isolation", "chroot", "-f", str(context / "Containerfile"), "-t", tag, str(context)],
                timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return tag


def test_image_holds_the_vulkan_loader_and_asks_for_the_drivers_vulkan(image):
    config = json.loads(run(["podman", "image", "inspect", image]).stdout)[0]["Config"]
    capabilities = dict(e.split("=", 1) for e in config["Env"])["NVIDIA_DRIVER_CAPABILITIES"]
    assert "graphics" in capabilities.split(","), "the NVIDIA runtime mounts the driver's Vulkan library only for graphics"
    found = run([*PODMAN_RUN, "--rm", "--entrypoint", "/usr/bin/find", image, "/usr/lib", "-name", "libvulkan.so.1"])
    assert found.stdout.strip(), found.stdout + found.stderr
    # Without a Vulkan driver (a CPU node), asking for the device fails with what to do, not a crash.
    models = model_dir()
    refused = run([*PODMAN_RUN, "--rm", "--read-only", "-v", f"{models}:/models:ro", image, "bench-engine",
                   "--device", "vulkan", "--model", MODEL_FILE, "--prompt-tokens", "4", "--gen-tokens", "1"])
    assert refused.returncode not in (0, 132, 134, 139), refused.stdout + refused.stderr
    assert "Vulkan driver" in refused.stdout + refused.stderr, refused.stdout + refused.stderr


def test_image_serves_on_a_vulkan_device(lavapipe_image):
    """`skiff serve --device vulkan` (SKIFF_DEVICE) in the image on lavapipe: ready, sized from the device's
    memory, and answering a chat completion computed on the device."""
    name, base = start_model_service(lavapipe_image, {"SKIFF_DEVICE": "vulkan", "SKIFF_GPU_MEMORY_UTILIZATION": "0.5",
                                                      "SKIFF_LOG_FORMAT": "json"})
    try:
        wait_ready(base, name, 600)
        logs = run(["podman", "logs", name])
        lines = [json.loads(line) for line in (logs.stdout + logs.stderr).splitlines() if line.startswith("{")]
        memory = [line for line in lines if line.get("message") == "device memory"]
        assert memory and "llvmpipe" in str(memory[0]), lines[:10]
        loaded = [line for line in lines if line.get("message") == "model loaded"]
        assert loaded and "llvmpipe" in str(loaded[0]), lines[:10]
        answer = ask(base, 4, 600)
        assert answer["choices"][0]["message"]["content"].strip()
        assert answer["usage"]["completion_tokens"] >= 1
    finally:
        run(["podman", "rm", "-f", "-t", "5", name])


def test_chat_image_runs_as_non_root_on_a_read_only_root(chat_image):
    config = json.loads(run(["podman", "image", "inspect", chat_image]).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    port = _free_port()
    name = f"skiff-chat-deploy-test-{port}"
    started = run([*PODMAN_RUN, "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                   "--security-opt", "no-new-privileges", "-e", "SKIFF_CHAT_DATABASE=sqlite:///tmp/chat.db",
                   "-e", "SKIFF_CHAT_LLM_URL=http://127.0.0.1:9/v1", "-p", f"127.0.0.1:{port}:8081", chat_image])
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        wait_ready(f"http://127.0.0.1:{port}", name, 60)
        assert _get(f"http://127.0.0.1:{port}/health")[0] == 200
        assert run(["podman", "exec", name, "/usr/bin/id", "-u"]).stdout.strip() == "10001"
    finally:
        run(["podman", "rm", "-f", "-t", "5", name])

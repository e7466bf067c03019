"""The images fit the pods the operator renders for them.

The operator's chat container sets no command (the image's CMD serves), probes named paths on the `http`
port, and runs as a fixed UID; the gate's Job overrides the command with `chatfleet loadtest ...`. Each of
those assumptions is checked here against the Dockerfiles and the real code on both sides.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import dockerfile
import pytest

from chatfleet.controller.loading import load_applications
from chatfleet.controller.render import render
from chatfleet.controller.rollout.job_runner import job_manifest
from chatfleet.controller.rollout.runner import GateRun
from chatfleet.paths import EXAMPLES_DIR, REPO_ROOT

CHATFLEET = Path(sys.executable).with_name("chatfleet")


def final_stage(name: str) -> dict[str, tuple[str, ...]]:
    """The shipped stage's instructions by keyword (last one wins, as in Docker)."""
    commands = list(dockerfile.parse_file(str(REPO_ROOT / "images" / f"Dockerfile.{name}")))
    last_from = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    return {c.cmd: c.value for c in commands[last_from:]}


def image_uid(name: str) -> int:
    return int(final_stage(name)["USER"][0].split(":")[0])


@pytest.fixture(scope="module")
def sample_children() -> list[dict[str, Any]]:
    (app,) = load_applications((EXAMPLES_DIR / "minimal.yaml").read_text())
    return render(app)


def chat_container(children: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(c for c in children if c["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_chat_pod_runs_the_images_own_command_on_its_port(sample_children: list[dict[str, Any]]) -> None:
    container = chat_container(sample_children)
    assert "command" not in container and "args" not in container, "the image's ENTRYPOINT+CMD serve"
    assert [p["name"] for p in container["ports"]] == ["http", "metrics"]
    port = container["ports"][0]
    assert (port["name"], port["containerPort"]) == ("http", int(final_stage("chat")["EXPOSE"][0]))
    metrics = container["ports"][1]
    assert metrics["containerPort"] == int(final_stage("chat")["EXPOSE"][1]), "the image declares it"
    cmd = final_stage("chat")["CMD"]
    assert cmd[cmd.index("--port") + 1] == str(port["containerPort"])
    deployment = next(c for c in sample_children if c["kind"] == "Deployment")
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsUser"] == image_uid("chat")
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], "the image's HOME is /tmp"


def test_probed_paths_are_routes_of_the_chat_service(
    sample_children: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service built from the ConfigMap the operator renders serves every path the pod probes."""
    config = next(c for c in sample_children if c["kind"] == "ConfigMap")
    for key, value in config["data"].items():
        monkeypatch.setenv(key, value)
    from chatfleet.chat.app import create_app
    from chatfleet.chat.config import Settings

    paths = create_app(Settings()).openapi()["paths"]
    container = chat_container(sample_children)
    probed = {container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probed == {"/healthz", "/readyz"}
    for path in probed:
        assert "get" in paths[path], path
    assert "/metrics" not in paths, "metrics are served on their own port, never the user port"
    health = final_stage("chat")["HEALTHCHECK"]
    assert any("/healthz" in part for part in health)


def test_gate_job_command_runs_in_the_loadtest_image() -> None:
    (app,) = load_applications((EXAMPLES_DIR / "minimal.yaml").read_text())
    run = GateRun(
        app="hello-chat",
        namespace="default",
        uid="00000000-0000-0000-0000-000000000000",
        name="hello-chat-gate-abc-1",
        revision="abc",
        target="http://hello-chat-canary.default.svc:8000",
        image="ghcr.io/chatfleet/loadtest:0.1.0",
        load_test=app.spec.rollout.load_test,
        calibrate=True,
        timeout_seconds=900,
    )
    pod = job_manifest(run)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["chatfleet"], "on the image's PATH (/opt/chatfleet/bin)"
    assert final_stage("loadtest")["ENTRYPOINT"][0] == "chatfleet"
    assert pod["securityContext"]["runAsUser"] == image_uid("loadtest")
    # Every flag the operator passes exists in the CLI the image installs (an unknown one exits 2).
    result = subprocess.run(
        [str(CHATFLEET), *container["args"], "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr

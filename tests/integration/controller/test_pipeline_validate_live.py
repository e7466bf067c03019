"""The example pipelines' validate stage, run for real: its own script lines against the real API server.

The lines come from examples/pipelines (not a copy), so a change there is what runs here. Only the two lines
that fetch cluster credentials (`az aks get-credentials`, `kubelogin convert-kubeconfig`) are left out: the
session's cluster hands kubectl its admin kubeconfig through KUBECONFIG instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatfleet.devcluster import tools
from chatfleet.devcluster.cluster import LocalCluster
from chatfleet.paths import EXAMPLES_DIR

PIPELINES = EXAMPLES_DIR / "pipelines"
CREDENTIAL_LINES = re.compile(r"^\s*(az aks get-credentials|kubelogin) .*$", re.MULTILINE)


def _github_validate(workdir: Path) -> str:
    job = yaml.safe_load((PIPELINES / "github-actions.yml").read_text())["jobs"]["validate"]
    scripts = [step["run"] for step in job["steps"] if "run" in step]
    return "\n".join(script for script in scripts if "pip install" not in script)


def _azure_validate(workdir: Path) -> str:
    pipeline = yaml.safe_load((PIPELINES / "azure-pipelines.yml").read_text())
    steps = pipeline["stages"][0]["jobs"][0]["steps"]
    scripts = [step.get("script") or step.get("inputs", {}).get("inlineScript") for step in steps]
    text = "\n".join(s for s in scripts if s).replace("$(Build.ArtifactStagingDirectory)", str(workdir))
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("pip install"))
    # Azure replaces its $(NAME) macros before bash runs; APP_FILE comes from the environment here.
    return text.replace("$(APP_FILE)", "$APP_FILE")


def _run(
    script: str, app_file: Path, cluster: LocalCluster, workdir: Path
) -> subprocess.CompletedProcess[str]:
    script = CREDENTIAL_LINES.sub("", script)
    kubectl = tools.ensure_built(["kubectl"])["kubectl"]
    chatfleet = Path(sys.executable).parent  # the venv's bin, where `chatfleet` is installed
    env = {
        **cluster.env(),
        "APP_FILE": str(app_file),
        "PATH": f"{chatfleet}:{kubectl.parent}:{os.environ['PATH']}",
    }
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("pipeline", [_github_validate, _azure_validate], ids=["github", "azure"])
def test_validate_stage_accepts_a_valid_app_and_stops_an_invalid_one(
    pipeline: Callable[[Path], str],
    crd: dict[str, Any],
    cluster: LocalCluster,
    app_doc: Callable[..., dict[str, Any]],
    cel_table: dict[str, Any],
    namespace: str,
    tmp_path: Path,
) -> None:
    script = pipeline(tmp_path)
    assert "kubectl apply --dry-run=server" in script and "chatfleet render" in script

    good = tmp_path / "app.yaml"
    good.write_text(yaml.safe_dump(app_doc("pipeline-app", namespace)))
    result = _run(script, good, cluster, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "chatapplication.chatfleet.dev/pipeline-app created (server dry run)" in result.stdout
    assert "kind: Deployment" in next(tmp_path.rglob("rendered.yaml")).read_text()

    case = cel_table["cases"][0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(app_doc("pipeline-bad", namespace, case["patch"])))
    result = _run(script, bad, cluster, tmp_path)
    assert result.returncode != 0
    assert case["field"] in result.stderr  # render stops it first, naming the field
    # The dry-run line alone: the API server's CEL rule stops it too, with the same message.
    dry_run = next(line for line in script.splitlines() if "--dry-run=server" in line)
    result = _run(dry_run, bad, cluster, tmp_path)
    assert result.returncode == 1
    assert case["message"] in result.stderr

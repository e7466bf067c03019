"""`chatfleet render`, `chatfleet crd generate` and `chatfleet operator run` as a person uses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from chatfleet.cli import app
from chatfleet.controller.crd import crd_yaml

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_render_prints_a_yaml_stream_of_children() -> None:
    result = CliRunner().invoke(app, ["render", "-f", str(EXAMPLES / "production.yaml")])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs].count("Deployment") == 1
    assert {d["metadata"]["namespace"] for d in docs} == {"team-a"}


def test_dev_mode_shows_what_the_local_stacks_operator_applies() -> None:
    def settings(args: list[str]) -> dict[str, str]:
        result = CliRunner().invoke(app, ["render", "-f", str(EXAMPLES / "minimal.yaml"), *args])
        assert result.exit_code == 0, result.output
        docs = list(yaml.safe_load_all(result.stdout))
        (config,) = [
            d for d in docs if d["kind"] == "ConfigMap" and "CHATFLEET_OPENAI_DEPLOYMENTS" in d["data"]
        ]
        return config["data"]

    production, local = settings([]), settings(["--dev-mode"])
    assert (
        "CHATFLEET_DEV_MODE" not in production and "apiKey" not in production["CHATFLEET_OPENAI_DEPLOYMENTS"]
    )
    assert (local["CHATFLEET_DEV_MODE"], local["CHATFLEET_AUTH_MODE"]) == ("true", "none")
    assert '"apiKey":"local-simulator"' in local["CHATFLEET_OPENAI_DEPLOYMENTS"]


def test_invalid_input_names_the_field_and_exits_1(tmp_path: Path) -> None:
    bad = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    bad["spec"]["scaling"] = {"minReplicas": 9, "maxReplicas": 3}
    bad["spec"]["openai"]["deployments"][0]["weight"] = 5000
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(app, ["render", "-f", str(path)])
    assert result.exit_code == 1
    assert "spec.scaling: minReplicas must be less than or equal to maxReplicas" in result.stderr
    assert "spec.openai.deployments[0].weight: weight must be between 1 and 1000" in result.stderr


def test_broken_yaml_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("spec: [unclosed")
    result = CliRunner().invoke(app, ["render", "-f", str(path)])
    assert result.exit_code == 1
    assert "not valid YAML" in result.stderr


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", "-f", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_render_reads_stdin() -> None:
    text = (EXAMPLES / "minimal.yaml").read_text()
    result = CliRunner().invoke(app, ["render", "-f", "-"], input=text)
    assert result.exit_code == 0
    assert "kind: HorizontalPodAutoscaler" in result.stdout


def test_crd_generate_prints_the_committed_crd(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["crd", "generate"])
    assert result.exit_code == 0
    assert result.stdout == crd_yaml()
    out = tmp_path / "crd.yaml"
    assert CliRunner().invoke(app, ["crd", "generate", "-o", str(out)]).exit_code == 0
    assert out.read_text() == crd_yaml()


def test_operator_run_rejects_conflicting_scope() -> None:
    result = CliRunner().invoke(app, ["operator", "run", "-n", "a", "--all-namespaces"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("args", "namespaces", "said"),
    [
        ([], [], "watching all namespaces"),
        (["-A"], [], "watching all namespaces"),
        (["-n", "team-a", "-n", "team-*"], ["team-a", "team-*"], "watching namespaces team-a, team-*"),
    ],
)
def test_operator_run_watches_every_namespace_unless_told_and_says_which(
    monkeypatch: pytest.MonkeyPatch, args: list[str], namespaces: list[str], said: str
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("chatfleet.controller.runtime.run_operator", lambda **kw: calls.append(kw))
    monkeypatch.setattr("chatfleet.controller.runtime.wait_for_api_server", lambda wait_s: "https://api:6443")
    result = CliRunner().invoke(app, ["operator", "run", *args])
    assert result.exit_code == 0, result.output
    assert calls == [{"namespaces": namespaces, "liveness": None, "peering": None, "metrics_port": 0}]
    assert said in result.stderr

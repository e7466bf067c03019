"""The example pipelines' shell lines are real commands, and the Azure Pipelines file has the shape it needs.

There is no offline Azure Pipelines linter and actionlint does not read `run:` arguments, so both files'
scripts are split into commands and each is checked against the real program: `chatfleet` lines through the
CLI's own click parser (plus the eval thresholds' parser), `kubectl` lines against the locally built
kubectl's flags, `az` and `kubelogin` against the few commands the examples are meant to use (no az CLI
offline). Every variable a script reads must be defined (pipeline variables, `env:`, or the script itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chatfleet import __version__
from chatfleet.eval.report import Threshold
from chatfleet.paths import EXAMPLES_DIR
from tests.helpers.pipelines import (
    Command,
    UsageError,
    assigned_variables,
    azure_macros,
    check_kubectl,
    commands,
    parse_chatfleet,
    shell_variables,
)

PIPELINES = EXAMPLES_DIR / "pipelines"
# az and kubelogin commands the examples may use, with their options (az aks get-credentials, az account
# get-access-token, kubelogin convert-kubeconfig references).
AZ = {
    ("aks", "get-credentials"): {"--resource-group", "-g", "--name", "-n", "--overwrite-existing"},
    ("account", "get-access-token"): {"--scope", "--resource", "--query", "--output", "-o"},
}
KUBELOGIN = {("convert-kubeconfig",): {"--login", "-l"}}
SHELL_BUILTINS = {"set"}
# Variables the runners define: GitHub's default environment, Azure's predefined ones.
GITHUB_RUNNER_VARIABLES = {"GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_WORKSPACE", "RUNNER_TEMP"}
AZURE_PREDEFINED_PREFIXES = ("Build.", "System.", "Agent.", "Pipeline.")


@pytest.fixture(scope="session")
def kubectl() -> Path:
    from chatfleet.devcluster.tools import ensure_built

    return ensure_built(["kubectl"])["kubectl"]


def _load(name: str) -> dict[Any, Any]:
    document = yaml.safe_load((PIPELINES / name).read_text())
    assert isinstance(document, dict)
    return document


def _github_scripts() -> list[tuple[str, str, set[str]]]:
    """(job, script, variables its environment defines) for every `run:` step of the workflow."""
    workflow = _load("github-actions.yml")
    scripts = []
    for job_name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                defined = {*workflow.get("env", {}), *job.get("env", {}), *step.get("env", {})}
                scripts.append((job_name, step["run"], defined))
    return scripts


def _azure_steps(pipeline: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(stage, step) for every step of every job, regular and deployment, of an Azure pipeline."""
    found = []
    for stage in pipeline["stages"]:
        assert set(stage) <= {"stage", "dependsOn", "condition", "jobs", "displayName", "variables"}, stage
        for job in stage["jobs"]:
            if "deployment" in job:
                assert job["environment"], job
                steps = job["strategy"]["runOnce"]["deploy"]["steps"]
            else:
                assert "job" in job, job
                steps = job["steps"]
            found += [(stage["stage"], step) for step in steps]
    return found


def _azure_scripts(pipeline: dict[Any, Any]) -> list[tuple[str, str]]:
    """(stage, script) for every `script:` and AzureCLI inline script."""
    scripts = []
    for stage, step in _azure_steps(pipeline):
        kind = next(key for key in ("script", "task", "publish", "checkout") if key in step)
        if kind == "script":
            scripts.append((stage, step["script"]))
        elif kind == "task" and step["task"] == "AzureCLI@2":
            inputs = step["inputs"]
            assert inputs["azureSubscription"], step
            assert (inputs["scriptType"], inputs["scriptLocation"]) == ("bash", "inlineScript"), step
            scripts.append((stage, inputs["inlineScript"]))
        elif kind == "task":
            assert step["task"] in {"UsePythonVersion@0", "KubeloginInstaller@0"}, step
    return scripts


def check_command(command: Command, kubectl: Path) -> None:
    """Fails unless the line is a command the real program accepts (see the module docstring)."""
    program, *args = command.argv
    if program == "chatfleet":
        path, params = parse_chatfleet(command.argv)
        if path == "chatfleet eval run":  # the thresholds are parsed by the command, not by click
            for text in params["minimum"] or ():
                Threshold.parse(text, "min")
            for text in params["maximum"] or ():
                Threshold.parse(text, "max")
    elif program == "kubectl":
        check_kubectl(kubectl, command.argv)
    elif program in ("az", "kubelogin"):
        table = AZ if program == "az" else KUBELOGIN
        key = next((k for k in table if tuple(args[: len(k)]) == k), None)
        assert key is not None, f"unknown {program} command: {command.line}"
        for word in args[len(key) :]:
            if word.startswith("-"):
                assert word.split("=", 1)[0] in table[key], f"{program} {' '.join(key)}: unknown {word}"
    elif program == "pip":
        assert len(args) == 2 and args[0] == "install" and args[1].startswith("chatfleet=="), command.line
    else:
        assert program in SHELL_BUILTINS, f"unexpected program {program!r}: {command.line}"


def _all_commands(scripts: list[str]) -> list[Command]:
    return [command for script in scripts for command in commands(script)]


def test_github_workflow_commands_are_real(kubectl: Path) -> None:
    found = _all_commands([script for _, script, _ in _github_scripts()])
    for command in found:
        check_command(command, kubectl)
    firsts = {command.argv[:3] for command in found}
    assert {("chatfleet", "render", "-f"), ("chatfleet", "eval", "run"), ("kubectl", "apply", "-f")} <= firsts
    assert ("kubectl", "apply", "--dry-run=server") in firsts
    assert any(command.argv[:2] == ("chatfleet", "loadtest") for command in found)


def test_pipelines_install_this_release() -> None:
    """The examples pin the chatfleet release they were written (and these tests run) against."""
    assert _load("github-actions.yml")["env"]["CHATFLEET_VERSION"] == __version__
    assert _load("azure-pipelines.yml")["variables"]["CHATFLEET_VERSION"] == __version__


def test_github_workflow_variables_are_defined() -> None:
    for job, script, defined in _github_scripts():
        missing = shell_variables(script) - defined - assigned_variables(script) - GITHUB_RUNNER_VARIABLES
        assert not missing, f"job {job}: undefined {sorted(missing)}"


def test_github_workflow_gates_before_production() -> None:
    workflow = _load("github-actions.yml")
    jobs = workflow["jobs"]
    assert jobs["production"]["needs"] == "staging" and jobs["staging"]["needs"] == "validate"
    staging = "\n".join(step.get("run", "") for step in jobs["staging"]["steps"])
    assert "chatfleet eval run" in staging and "chatfleet loadtest" in staging
    for job in jobs.values():  # OIDC: a job that logs in to Azure may request the ID token, nothing else
        if any(step.get("uses", "").startswith("azure/login@") for step in job["steps"]):
            assert job["permissions"] == {"contents": "read", "id-token": "write"}
            login = next(step for step in job["steps"] if step.get("uses", "").startswith("azure/login@"))
            assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}  # no client secret


def check_azure_pipeline(pipeline: dict[Any, Any], kubectl: Path) -> None:
    """Stages in order, each step a known kind, every command real, every variable defined."""
    stages = {stage["stage"]: stage for stage in pipeline["stages"]}
    assert list(stages) == ["Validate", "Staging", "Production"]
    order = (stages["Staging"]["dependsOn"], stages["Production"]["dependsOn"])
    assert order == ("Validate", "Staging"), f"stages must run Validate -> Staging -> Production: {order}"
    scripts = _azure_scripts(pipeline)
    for command in _all_commands([script for _, script in scripts]):
        check_command(command, kubectl)
    by_stage = {name: "\n".join(s for stage, s in scripts if stage == name) for name in stages}
    assert "chatfleet render -f" in by_stage["Validate"] and "--dry-run=server" in by_stage["Validate"]
    assert "chatfleet eval run" in by_stage["Staging"] and "chatfleet loadtest" in by_stage["Staging"]
    assert "kubectl apply -f" in by_stage["Production"]
    variables = set(pipeline["variables"])
    for stage, script in scripts:
        unknown = {m for m in azure_macros(script) if not m.startswith(AZURE_PREDEFINED_PREFIXES)} - variables
        assert not unknown, f"stage {stage}: undefined pipeline variables {sorted(unknown)}"
        # Bash variables (not $(macros)) must be set by the script: pipeline variables reach the shell
        # upper-cased through the environment, which these examples do not rely on.
        missing = shell_variables(script) - assigned_variables(script)
        assert not missing, f"stage {stage}: undefined shell variables {sorted(missing)}"


def test_azure_pipeline_shape_and_commands(kubectl: Path) -> None:
    check_azure_pipeline(_load("azure-pipelines.yml"), kubectl)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (('"$(STAGING)"', '"$(STAGNG)"'), "undefined pipeline variables \\['STAGNG'\\]"),
        (("--wait-for-target 60", "--wait-for-target sixty"), "Invalid value for '--wait-for-target'"),
        (("--dry-run=server", "--dryrun=server"), "unknown flag --dryrun"),
        (("dependsOn: Staging", "dependsOn: Validate"), "must run Validate -> Staging -> Production"),
        (("task: AzureCLI@2", "task: AzureCLI@1"), "AzureCLI@1"),
    ],
)
def test_a_broken_azure_pipeline_is_caught(change: tuple[str, str], error: str, kubectl: Path) -> None:
    old, new = change
    text = (PIPELINES / "azure-pipelines.yml").read_text()
    assert old in text
    with pytest.raises(AssertionError, match=error):
        check_azure_pipeline(yaml.safe_load(text.replace(old, new, 1)), kubectl)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("chatfleet eval run --hots https://x --set s.jsonl", "No such option: --hots"),
        ("chatfleet eval run --host https://x", "Missing option '--set'"),
        ("chatfleet loadtest --host h --scenario stedy --users 2 --run-time 1m", "'stedy' is not"),
        ("chatfleet loadtest --host h --scenario steady --users two --run-time 1m", "for '--users'"),
        ("chatfleet evaluate run --host https://x", "No such command 'evaluate'"),
    ],
)
def test_a_wrong_chatfleet_line_is_caught(line: str, error: str, kubectl: Path) -> None:
    (command,) = commands(line)
    with pytest.raises(UsageError, match=error):
        check_command(command, kubectl)


@pytest.mark.parametrize(
    "line",
    [
        "chatfleet eval run --host https://x --set s.jsonl --min groundednes=0.9",
        "kubectl apply --dry-run=serverside --dryrun -f app.yaml",
        "kubectl aply -f app.yaml",
        "az aks get-credential --name c",
        "kubelogin convert-kubeconfig --login azurecli --client-secret s",
        "curl https://x",
    ],
)
def test_other_wrong_lines_are_caught(line: str, kubectl: Path) -> None:
    (command,) = commands(line)
    with pytest.raises((AssertionError, ValueError)):
        check_command(command, kubectl)

"""`chatfleet eval run` against the real service and simulator over HTTP: the healthy service passes the
thresholds and every sabotage (a missing document, top=1, a broken prompt) fails them, naming the metric.

The simulator answers only from the sources in its prompt, so these scores move with the service's
retrieval and prompt, not with anything the test tells it. It is also the LLM judge (deployment `judge` of
the built-in simulator): it rates from the texts in the judge prompt, so every sabotage gets lower judge
scores too. A short slice of the shipped sample set keeps the tier quick.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatfleet.eval.cases import load_eval_set, resolve_set_path
from chatfleet.paths import REPO_ROOT, SAMPLE_CORPUS_DIR
from tests.helpers.serve import ServiceProcess, serve_subprocess

CASES = (
    "contoso-hotel-london",
    "contoso-expense-deadline",
    "contoso-laptop-refresh",
    "contoso-parental-leave",
    "fabrikam-e4",
    "fabrikam-warranty",
    "fabrikam-firmware-time",
    "contoso-off-topic",
    "contoso-asks-fabrikam-e7",
)
THRESHOLDS = [
    *("--min", "recall_at_k=0.9"),
    *("--min", "citation_coverage=0.9"),
    *("--min", "groundedness=0.9"),
    *("--min", "correctness=0.8"),
    *("--min", "refusal_accuracy=0.9"),
    *("--min", "judge_groundedness=4"),
    *("--min", "judge_relevance=3.5"),
]
JUDGE = "judge"  # a deployment name of the built-in simulator, used for nothing but judging
CLI = (sys.executable, "-m", "chatfleet")
FAST_SIMULATOR = ("--simulator-ttft-ms", "5", "--simulator-tokens-per-second", "5000")
BROKEN_ANSWER_PROMPT = """\
id: answer
version: "3"
description: The question moved into the system message by mistake; the user message holds only sources.
kind: chat
variables: [question, sources]
system: |
  You are a support assistant. Answer this question with facts from the sources, citing [id]: ${question}
user: |
  ${sources}
"""


@pytest.fixture(scope="module")
def eval_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cases = {c.id: c for c in load_eval_set(resolve_set_path("sample")).cases}
    path = tmp_path_factory.mktemp("eval") / "short.jsonl"
    path.write_text("".join(cases[i].model_dump_json() + "\n" for i in CASES), encoding="utf-8")
    return path


@dataclass
class Service:
    url: str
    simulator: str  # the built-in simulator's base URL: the judge's endpoint


def simulator_url(running: ServiceProcess) -> str:
    line = next(line for line in running.output if "built-in simulator at" in line)
    return line.split("built-in simulator at", 1)[1].split()[0]


@contextmanager
def service(env: dict[str, str] | None = None, *args: str) -> Iterator[Service]:
    with serve_subprocess(env or {}, "--dev", *FAST_SIMULATOR, *args) as running:
        yield Service(running.url, simulator_url(running))


def evaluate(target: Service, eval_set: Path, out: Path) -> tuple[int, dict[str, Any], str]:
    """The installed CLI, as an app team's pipeline runs it, with the simulator as judge (its key in
    the environment, as a pipeline passes a secret); (exit code, report, stdout)."""
    outputs = ("--json", str(out), "--termination-message", str(out.with_suffix(".message")))
    judge = ("--judge-deployment", JUDGE, "--judge-endpoint", target.simulator)
    done = subprocess.run(
        [*CLI, "eval", "run", "--host", target.url, "--set", str(eval_set), *outputs, *judge, *THRESHOLDS],
        cwd=REPO_ROOT,
        env={**os.environ, "CHATFLEET_JUDGE_API_KEY": "local-simulator"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(out.read_text(encoding="utf-8")), done.stdout


def failed_metrics(report: dict[str, Any]) -> set[str]:
    return {c["metric"] for c in report["thresholds"] if not c["passed"]}


@dataclass
class Healthy:
    code: int
    report: dict[str, Any]
    out: Path
    throttled: tuple[int, dict[str, Any], str]  # the same service with its judge deployment throttled


@pytest.fixture(scope="module")
def healthy(eval_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Healthy:
    out = tmp_path_factory.mktemp("healthy") / "report.json"
    with service() as running:
        code, report, _ = evaluate(running, eval_set, out)
        faults = {"force_429": True, "retry_after_ms": 100}
        httpx.put(f"{running.simulator}/_sim/faults/{JUDGE}", json=faults, timeout=10).raise_for_status()
        two = out.with_name("two.jsonl")
        two.write_text("".join(eval_set.read_text(encoding="utf-8").splitlines(True)[:2]), encoding="utf-8")
        throttled = evaluate(running, two, out.with_name("throttled.json"))
    return Healthy(code, report, out, throttled)


def test_the_healthy_service_passes(healthy: Healthy) -> None:
    code, report = healthy.code, healthy.report
    assert code == 0, report["thresholds"]
    assert report["passed"] and len(report["cases"]) == len(CASES)
    assert report["metrics"]["recall_at_k"] == 1.0 and report["metrics"]["groundedness"] == 1.0
    assert report["promptVersions"]["answer"] == "2" and report["deployments"] == ["simulator"]
    assert all(c["retrieved"] for c in report["cases"])
    message = json.loads(healthy.out.with_suffix(".message").read_text(encoding="utf-8"))
    assert message["passed"] and message["metrics"] == report["metrics"]
    assert message["judge"] == {
        "deployment": JUDGE,
        "prompts": {"judge_groundedness": "1", "judge_relevance": "1"},
        "unscored": 0,
    }


def test_the_judge_rates_every_answer_but_a_right_refusal(healthy: Healthy) -> None:
    report = healthy.report
    assert report["judge"]["deployment"] == JUDGE and report["judge"]["unscored"] == []
    for case in report["cases"]:
        if case["answerable"]:
            for metric in ("judge_groundedness", "judge_relevance"):
                assert case["metrics"][metric] in (1, 2, 3, 4, 5)
                assert case["judge"][metric]["reason"].startswith("Let's think step by step:")
        else:  # the off-topic and other-tenant questions were refused, rightly: nothing to judge
            assert case["refused"] and case["judge"] is None
    assert report["metrics"]["judge_groundedness"] >= 4.5 and report["metrics"]["judge_relevance"] >= 3.5


def test_a_throttled_judge_leaves_cases_unscored_and_fails_its_thresholds(healthy: Healthy) -> None:
    code, report, stdout = healthy.throttled
    assert code == 1
    assert report["metrics"]["judge_groundedness"] is None and report["metrics"]["recall_at_k"] == 1.0
    unscored = report["judge"]["unscored"]
    assert len(unscored) == 4  # two cases, two metrics, each retried, none made up
    assert {u["error"] for u in unscored} == {"throttled (HTTP 429) after 3 attempts"}
    failed = {c["metric"]: c["message"] for c in report["thresholds"] if not c["passed"]}
    assert set(failed) == {"judge_groundedness", "judge_relevance"}
    assert failed["judge_relevance"] == (
        "judge_relevance not measured (needs >= 3.5; 2 cases unscored by the judge)"
    )
    assert "4 judge ratings unscored (left out of the means):" in stdout


def judged_lower(report: dict[str, Any], healthy: Healthy) -> None:
    """Both judge means fell below the healthy service's: the simulator judge does not flatter."""
    for metric in ("judge_groundedness", "judge_relevance"):
        assert report["metrics"][metric] < healthy.report["metrics"][metric], metric


def test_a_missing_document_fails_retrieval_and_correctness(
    eval_set: Path, tmp_path: Path, healthy: Healthy
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE_CORPUS_DIR, corpus, ignore=shutil.ignore_patterns("*.jsonl"))
    (corpus / "contoso" / "expense-policy.md").unlink()
    index = tmp_path / "index.sqlite"
    for tenant in ("contoso", "fabrikam"):
        subprocess.run(
            [*CLI, "ingest", str(corpus / tenant), "--tenant", tenant, "--index", str(index)],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
    with service({}, "--index", str(index)) as running:
        code, report, stdout = evaluate(running, eval_set, tmp_path / "report.json")
    assert code == 1
    assert {"recall_at_k", "citation_coverage", "correctness", "judge_relevance"} <= failed_metrics(report)
    hotel = next(c for c in report["cases"] if c["id"] == "contoso-hotel-london")
    assert hotel["metrics"]["recall_at_k"] == 0.0
    assert hotel["metrics"]["judge_groundedness"] == 1  # grounded in the wrong document: no answer
    assert "FAILED: recall_at_k" in stdout
    judged_lower(report, healthy)


def test_top_1_fails_correctness(eval_set: Path, tmp_path: Path, healthy: Healthy) -> None:
    with service({"CHATFLEET_DEFAULT_TOP": "1"}) as running:
        code, report, _ = evaluate(running, eval_set, tmp_path / "report.json")
    assert code == 1
    assert all(len(c["retrieved"]) <= 1 for c in report["cases"])
    assert "correctness" in failed_metrics(report)
    judged_lower(report, healthy)


def test_a_broken_prompt_fails_and_compare_names_the_regressions(
    eval_set: Path, tmp_path: Path, healthy: Healthy
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "answer.v3.yaml").write_text(BROKEN_ANSWER_PROMPT, encoding="utf-8")
    out = tmp_path / "report.json"
    with service({"CHATFLEET_PROMPTS_DIR": str(prompts)}) as running:
        code, report, _ = evaluate(running, eval_set, out)
    assert code == 1
    assert report["promptVersions"]["answer"] == "3"
    assert {"citation_coverage", "correctness", "refusal_accuracy"} <= failed_metrics(report)
    assert {"judge_groundedness", "judge_relevance"} <= failed_metrics(report)
    assert report["metrics"]["recall_at_k"] == 1.0  # retrieval was fine: the prompt lost the answer
    judged_lower(report, healthy)

    done = subprocess.run(
        [*CLI, "eval", "compare", str(healthy.out), str(out), "--fail-on-regression"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "contoso-hotel-london: correctness 1.000 -> 0.000" in done.stdout
    assert "contoso-hotel-london: judge_relevance 5.000 -> 2.000" in done.stdout
    assert re.search(r"judge_groundedness +4\.\d+ +3\.000 +-\d\.\d+  worse", done.stdout)

"""`chatfleet eval run` against the real service and simulator over HTTP: the healthy service passes the
thresholds and every sabotage (a missing document, top=1, a broken prompt) fails them, naming the metric.

The simulator answers only from the sources in its prompt, so these scores move with the service's
retrieval and prompt, not with anything the test tells it. A short slice of the shipped sample set keeps
the tier quick.
"""

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chatfleet.eval.cases import load_eval_set, resolve_set_path
from chatfleet.paths import REPO_ROOT, SAMPLE_CORPUS_DIR
from tests.helpers.serve import serve_subprocess

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
]
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


@contextmanager
def service(env: dict[str, str] | None = None, *args: str) -> Iterator[str]:
    with serve_subprocess(env or {}, "--dev", *FAST_SIMULATOR, *args) as running:
        yield running.url


def evaluate(url: str, eval_set: Path, out: Path) -> tuple[int, dict[str, Any], str]:
    """The installed CLI, as an app team's pipeline runs it; (exit code, report, stdout)."""
    outputs = ("--json", str(out), "--termination-message", str(out.with_suffix(".message")))
    done = subprocess.run(
        [*CLI, "eval", "run", "--host", url, "--set", str(eval_set), *outputs, *THRESHOLDS],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(out.read_text(encoding="utf-8")), done.stdout


def failed_metrics(report: dict[str, Any]) -> set[str]:
    return {c["metric"] for c in report["thresholds"] if not c["passed"]}


@pytest.fixture(scope="module")
def healthy(eval_set: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("healthy") / "report.json"
    with service() as url:
        code, report, _ = evaluate(url, eval_set, out)
    return code, report, out


def test_the_healthy_service_passes(healthy: tuple[int, dict[str, Any], Path]) -> None:
    code, report, _ = healthy
    assert code == 0, report["thresholds"]
    assert report["passed"] and len(report["cases"]) == len(CASES)
    assert report["metrics"]["recall_at_k"] == 1.0 and report["metrics"]["groundedness"] == 1.0
    assert report["promptVersions"]["answer"] == "2" and report["deployments"] == ["simulator"]
    assert all(c["retrieved"] for c in report["cases"])
    message = json.loads(healthy[2].with_suffix(".message").read_text(encoding="utf-8"))
    assert message["passed"] and message["metrics"] == report["metrics"]


def test_a_missing_document_fails_retrieval_and_correctness(eval_set: Path, tmp_path: Path) -> None:
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
    with service({}, "--index", str(index)) as url:
        code, report, stdout = evaluate(url, eval_set, tmp_path / "report.json")
    assert code == 1
    assert {"recall_at_k", "citation_coverage", "correctness"} <= failed_metrics(report)
    hotel = next(c for c in report["cases"] if c["id"] == "contoso-hotel-london")
    assert hotel["metrics"]["recall_at_k"] == 0.0
    assert "FAILED: recall_at_k" in stdout


def test_top_1_fails_correctness(eval_set: Path, tmp_path: Path) -> None:
    with service({"CHATFLEET_DEFAULT_TOP": "1"}) as url:
        code, report, _ = evaluate(url, eval_set, tmp_path / "report.json")
    assert code == 1
    assert all(len(c["retrieved"]) <= 1 for c in report["cases"])
    assert "correctness" in failed_metrics(report)


def test_a_broken_prompt_fails_and_compare_names_the_regressions(
    eval_set: Path, tmp_path: Path, healthy: tuple[int, dict[str, Any], Path]
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "answer.v3.yaml").write_text(BROKEN_ANSWER_PROMPT, encoding="utf-8")
    out = tmp_path / "report.json"
    with service({"CHATFLEET_PROMPTS_DIR": str(prompts)}) as url:
        code, report, _ = evaluate(url, eval_set, out)
    assert code == 1
    assert report["promptVersions"]["answer"] == "3"
    assert {"citation_coverage", "correctness", "refusal_accuracy"} <= failed_metrics(report)
    assert report["metrics"]["recall_at_k"] == 1.0  # retrieval was fine: the prompt lost the answer

    done = subprocess.run(
        [*CLI, "eval", "compare", str(healthy[2]), str(out), "--fail-on-regression"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "contoso-hotel-london: correctness 1.000 -> 0.000" in done.stdout

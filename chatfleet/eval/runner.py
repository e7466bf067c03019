"""Runs an eval set against a service: one case at a time (quality, not load), history replayed as the
conversation so far, each turn scored as soon as it is answered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from chatfleet.bearer import TokenFile
from chatfleet.chat.embeddings import load_embedder
from chatfleet.contracts import lexical
from chatfleet.contracts.evaluation import JUDGE_METRICS
from chatfleet.contracts.groundedness import Groundedness, is_refusal
from chatfleet.eval.cases import EvalCase, EvalSet
from chatfleet.eval.client import Turn, ask, wait_until_reachable
from chatfleet.eval.judge import Judge
from chatfleet.eval.metrics import case_metrics
from chatfleet.eval.report import Threshold, aggregate, verdict

TURN_TIMEOUT_S = 60.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def judged(case: EvalCase, turn: Turn) -> bool:
    """Whether the judge rates a case: every answered case, except the right refusal of an unanswerable
    question (nothing to ground, and relevance would punish the correct reply; refusal_accuracy covers it)."""
    return turn.error is None and not (not case.answerable and is_refusal(turn.answer))


def _judge_case(judge: Judge | None, case: EvalCase, turn: Turn) -> dict[str, Any] | None:
    """The judge's ratings of one case (score and reason, or the error that left it unscored)."""
    if judge is None or not judged(case, turn):
        return None
    history = [t.model_dump() for t in case.history]
    ratings = judge.rate_case(case.question, history, turn.answer, turn.retrieved)
    return {metric: rating.as_dict() for metric, rating in ratings.items()}


def run_eval(
    *,
    host: str,
    set_name: str,
    eval_set: EvalSet,
    thresholds: list[Threshold],
    token: str | None = None,
    token_file: Path | None = None,
    embedder: str = "wordllama",
    wait_for_target_s: float = 0.0,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """The JSON report of one run; raises client.ServiceUnreachable (or judge.JudgeUnavailable) when no
    verdict is possible.

    `token_file`: a minted token (chatfleet.bearer), read again each turn: a long set outlives its expiry.
    `judge`: adds the LLM-as-judge metrics."""
    groundedness = Groundedness(load_embedder(embedder))
    started = _now()
    results: list[dict[str, Any]] = []
    prompt_versions: dict[str, str] = {}
    deployments: set[str] = set()
    minted = TokenFile()
    with httpx.Client(base_url=host, timeout=TURN_TIMEOUT_S) as client:
        wait_until_reachable(client, wait_for_target_s)
        for case in eval_set.cases:
            messages = [turn.model_dump() for turn in case.history]
            messages.append({"role": "user", "content": case.question})
            bearer = minted.read(token_file) if token_file else token
            turn = ask(client, messages, case.tenant, bearer)
            prompt_versions.update(turn.prompt_versions)
            if turn.deployment:
                deployments.add(turn.deployment)
            scores = case_metrics(case, turn, groundedness)
            ratings = _judge_case(judge, case, turn)
            for metric in JUDGE_METRICS:
                scores[metric] = None if ratings is None else ratings[metric]["score"]
            results.append(
                {
                    "id": case.id,
                    "tenant": case.tenant,
                    "question": case.question,
                    "answerable": case.answerable,
                    "expectedSources": case.expected_sources,
                    "answer": turn.answer,
                    "refused": is_refusal(turn.answer) if turn.error is None else None,
                    "retrieved": [r.id for r in turn.retrieved],
                    "cited": lexical.citations(turn.answer),
                    "error": turn.error,
                    "ttftMs": None if turn.ttft_ms is None else round(turn.ttft_ms, 1),
                    "latencyMs": round(turn.total_ms, 1),
                    "metrics": {
                        name: None if value is None else round(value, 4) for name, value in scores.items()
                    },
                    "judge": ratings,
                }
            )
    metrics = aggregate(results)
    unscored = [
        {"id": r["id"], "metric": metric, "error": rating["error"]}
        for r in results
        for metric, rating in (r["judge"] or {}).items()
        if rating["score"] is None
    ]
    counts = {m: sum(1 for u in unscored if u["metric"] == m) for m in JUDGE_METRICS}
    checks = verdict(metrics, thresholds, counts)
    return {
        "set": set_name,
        "setSha256": eval_set.sha256,
        "host": host,
        "startedAt": started,
        "finishedAt": _now(),
        "embedder": embedder,
        "promptVersions": prompt_versions,
        "deployments": sorted(deployments),
        "judge": None if judge is None else {**judge.describe(), "unscored": unscored},
        "metrics": metrics,
        "thresholds": checks,
        "passed": all(c["passed"] for c in checks),
        "cases": results,
    }

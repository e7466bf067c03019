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
from chatfleet.contracts.groundedness import Groundedness, is_refusal
from chatfleet.eval.cases import EvalSet
from chatfleet.eval.client import ask, wait_until_reachable
from chatfleet.eval.metrics import case_metrics
from chatfleet.eval.report import Threshold, aggregate, verdict

TURN_TIMEOUT_S = 60.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
) -> dict[str, Any]:
    """The JSON report of one run; raises client.ServiceUnreachable when no verdict is possible.

    `token_file`: a minted token (chatfleet.bearer), read again each turn: a long set outlives its expiry."""
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
                        name: None if value is None else round(value, 4)
                        for name, value in case_metrics(case, turn, groundedness).items()
                    },
                }
            )
    metrics = aggregate(results)
    checks = verdict(metrics, thresholds)
    return {
        "set": set_name,
        "setSha256": eval_set.sha256,
        "host": host,
        "startedAt": started,
        "finishedAt": _now(),
        "embedder": embedder,
        "promptVersions": prompt_versions,
        "deployments": sorted(deployments),
        "metrics": metrics,
        "thresholds": checks,
        "passed": all(c["passed"] for c in checks),
        "cases": results,
    }

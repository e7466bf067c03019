"""The outcome of screening one text, and how it is logged (never with the text unless opted in)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger("chatfleet.guards")

Target = Literal["user", "document"]


@dataclass(frozen=True)
class GuardDecision:
    """`attack` is the verdict; `score` in [0, 1]; `reasons` are rule ids, safe to show and log."""

    attack: bool
    score: float
    reasons: tuple[str, ...]
    detector: str
    target: Target


@dataclass(frozen=True)
class ScreenResult:
    """One decision for the user prompt and one per document, in the order they were given."""

    user: GuardDecision | None
    documents: tuple[GuardDecision, ...] = field(default_factory=tuple)

    @property
    def user_attack(self) -> bool:
        return self.user is not None and self.user.attack

    def flagged_documents(self) -> list[int]:
        return [i for i, d in enumerate(self.documents) if d.attack]


def log_decision(
    decision: GuardDecision, *, tenant: str, text: str | None = None, log_content: bool = False
) -> None:
    """Flagged decisions at WARNING, clean ones at DEBUG. The text itself only with `log_content`
    (CHATFLEET_LOG_CONTENT): otherwise a short hash lets an operator correlate repeats without PII."""
    extra = {
        "guard_detector": decision.detector,
        "guard_target": decision.target,
        "guard_attack": decision.attack,
        "guard_score": round(decision.score, 3),
        "guard_reasons": list(decision.reasons),
        "tenant": tenant,
    }
    if text is not None:
        extra["content_sha256"] = hashlib.sha256(text.encode()).hexdigest()[:16]
        if log_content:
            extra["content"] = text
    level = logging.WARNING if decision.attack else logging.DEBUG
    log.log(
        level,
        "prompt screen %s: %s score=%.2f reasons=%s tenant=%s",
        decision.target,
        "ATTACK" if decision.attack else "clean",
        decision.score,
        ",".join(decision.reasons) or "-",
        tenant,
        extra=extra,
    )

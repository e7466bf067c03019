"""Screening passages at ingest time: an indirect prompt injection planted in a document is caught once,
when the document enters the index, instead of only each time a turn retrieves it.

The detector is the service's own (`chatfleet.chat.guards.LocalScreen`, rules + the bundled classifier) in
its document mode, applied to each chunk's text exactly as retrieval returns it, so ingest and the
retrieval-time screen agree on every chunk. What happens to a flagged chunk is the policy:

* `flag`: indexed anyway and listed in the report (the retrieval-time screen still withholds it);
* `quarantine` (default): listed, and left out of the index, so no search can return it; the rest of its
  document is indexed with its chunk numbers unchanged;
* `refuse`: the whole document is not ingested (what the index had for it stays) and the run fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from chatfleet.chat.guards import LocalScreen
from chatfleet.contracts.citations import citation_id

ScreenPolicy = Literal["flag", "quarantine", "refuse"]
POLICIES: tuple[str, ...] = get_args(ScreenPolicy)
DEFAULT_POLICY: ScreenPolicy = "quarantine"
ACTIONS: dict[str, str] = {"flag": "indexed", "quarantine": "quarantined", "refuse": "refused"}


@dataclass(frozen=True)
class FlaggedPassage:
    """One flagged chunk as the report lists it: where it is and which rules fired, never its text (a
    16-hex-digit digest lets a reviewer match it against the document)."""

    source: str
    chunk: int
    id: str
    rules: tuple[str, ...]
    score: float
    action: str
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "rules": list(self.rules)}


class PassageScreen:
    """The ingest-time screen: a policy plus the local detector, trained once per run."""

    def __init__(self, policy: ScreenPolicy = DEFAULT_POLICY, screen: LocalScreen | None = None) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown screen policy {policy!r} (one of {', '.join(POLICIES)})")
        self.policy = policy
        self.screen = screen or LocalScreen()

    @property
    def name(self) -> str:
        """What goes into a source's content hash: changing the policy re-screens unchanged files."""
        return f"{self.screen.name}/{self.policy}"

    def flagged(self, source: str, contents: Sequence[str]) -> list[FlaggedPassage]:
        """The flagged chunks of one document (chunk numbers are positions in `contents`)."""
        decisions = self.screen.screen_sync(None, contents).documents
        action = ACTIONS[self.policy]
        return [
            FlaggedPassage(
                source=source,
                chunk=i,
                id=citation_id(source, i),
                rules=decision.reasons,
                score=decision.score,
                action=action,
                sha256=hashlib.sha256(contents[i].encode()).hexdigest()[:16],
            )
            for i, decision in enumerate(decisions)
            if decision.attack
        ]

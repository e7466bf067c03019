"""The chain's view of the responsible-AI guards and the tenant budget: one object with the checks
a turn needs, mapping their verdicts to problem types and logging each decision (never the text)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from chatfleet.chat.budget import BudgetExceeded, TenantBudget
from chatfleet.chat.guards import PromptScreen, log_decision
from chatfleet.chat.problems import RATE_LIMITED, ProblemError
from chatfleet.chat.retrieval import Hit, Principal

VERDICT_CACHE_SIZE = 50_000
REJECTED_MESSAGE = (
    "Your message looks like an attempt to override the assistant's instructions, so the assistant will not "
    "answer it. Please rephrase your question."
)


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    detector: str
    user_message: str = REJECTED_MESSAGE


class TurnGuards:
    def __init__(self, screen: PromptScreen, budget: TenantBudget, *, log_content: bool = False) -> None:
        self.screen = screen
        self.budget = budget
        self.log_content = log_content
        self._verdicts: dict[bytes, bool] = {}

    async def screen_turn(
        self, question: str | None, hits: Sequence[Hit], principal: Principal
    ) -> tuple[Verdict, list[Hit], list[Hit]]:
        """The question's verdict and the sources split into kept and withheld, from one screening call
        (Prompt Shields takes a prompt and its documents in one round trip).

        Retrieved text is data, yet an indirect injection hides there; flagged chunks are withheld. Their
        verdicts are cached by content digest: the same chunks are retrieved over and over, and screening
        is CPU work on the event loop (tens of ms per long chunk with the local detector).
        """
        digests = [hashlib.blake2b(h.content.encode(), digest_size=16).digest() for h in hits]
        unknown = [i for i, d in enumerate(digests) if d not in self._verdicts]
        verdict = Verdict(False, "none")
        if question is not None or unknown:
            result = await self.screen.screen(question, [hits[i].content for i in unknown])
            if question is not None and (user := result.user) is not None:
                log_decision(user, tenant=principal.tenant, text=question, log_content=self.log_content)
                verdict = Verdict(user.attack, user.detector)
            for i, decision in zip(unknown, result.documents, strict=True):
                if decision.attack:
                    log_decision(
                        decision, tenant=principal.tenant, text=hits[i].content, log_content=self.log_content
                    )
                self._remember(digests[i], decision.attack)
        flagged = {i for i, d in enumerate(digests) if self._verdicts[d]}
        kept = [h for i, h in enumerate(hits) if i not in flagged]
        rejected = [h for i, h in enumerate(hits) if i in flagged]
        return verdict, kept, rejected

    def _remember(self, digest: bytes, attack: bool) -> None:
        self._verdicts[digest] = attack
        if len(self._verdicts) > VERDICT_CACHE_SIZE:
            self._verdicts.pop(next(iter(self._verdicts)))  # oldest first (dicts keep insertion order)

    async def reserve_budget(self, principal: Principal, estimated_tokens: int) -> None:
        try:
            self.budget.check(principal.tenant, estimated_tokens)
        except BudgetExceeded as exc:
            raise ProblemError(
                RATE_LIMITED,
                "your organization's chat token budget for this minute is used up",
                retry_after_s=exc.retry_after_s,
            ) from exc

    async def record_usage(self, principal: Principal, actual_tokens: int, estimated_tokens: int) -> None:
        """Settles the reservation with what the model really used."""
        self.budget.record(principal.tenant, actual_tokens, estimated_tokens)

    async def aclose(self) -> None:
        await self.screen.aclose()

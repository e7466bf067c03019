"""The chain's view of the responsible-AI guards and the tenant budget: one object with the four checks
a turn needs, mapping their verdicts to problem responses and logging each decision (never the text)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatfleet.chat.api.problems import RATE_LIMITED, ProblemError
from chatfleet.chat.budget import BudgetExceeded, TenantBudget
from chatfleet.chat.guards import PromptScreen, log_decision
from chatfleet.chat.retrieval import Hit, Principal

REJECTED_MESSAGE = (
    "Your message looks like an attempt to override the assistant's instructions, so it was not sent to the "
    "model. Please rephrase your question."
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

    async def screen_user(self, text: str, principal: Principal) -> Verdict:
        result = await self.screen.screen(text)
        decision = result.user
        if decision is None:
            return Verdict(False, "none")
        log_decision(decision, tenant=principal.tenant, text=text, log_content=self.log_content)
        return Verdict(decision.attack, decision.detector)

    async def screen_documents(
        self, hits: Sequence[Hit], principal: Principal
    ) -> tuple[list[Hit], list[Hit]]:
        """Retrieved text is data, yet an indirect injection hides there; flagged chunks are withheld."""
        if not hits:
            return [], []
        result = await self.screen.screen(None, [h.content for h in hits])
        flagged = set(result.flagged_documents())
        for index in flagged:
            log_decision(
                result.documents[index],
                tenant=principal.tenant,
                text=hits[index].content,
                log_content=self.log_content,
            )
        kept = [h for i, h in enumerate(hits) if i not in flagged]
        rejected = [h for i, h in enumerate(hits) if i in flagged]
        return kept, rejected

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

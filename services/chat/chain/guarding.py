"""The chain's view of the responsible-AI guards and the tenant budget: one object with the checks
a turn needs, mapping their verdicts to problem types and logging each decision (never the text)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from chatfleet.chat.budget import BudgetExceeded, BudgetUnavailable, TokenBudget
from chatfleet.chat.guards import PromptScreen, log_decision
from chatfleet.chat.problems import BUDGET_UNAVAILABLE, INPUT_TOO_LARGE, RATE_LIMITED, ProblemError
from chatfleet.chat.retrieval import Hit, Principal

VERDICT_CACHE_SIZE = 50_000
TURN_CACHE_SIZE = 50_000
DEFAULT_SCREEN_BUDGET_MS = 100.0
REJECTED_MESSAGE = (
    "Your message looks like an attempt to override the assistant's instructions, so the assistant will not "
    "answer it. Please rephrase your question."
)


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    detector: str
    user_message: str = REJECTED_MESSAGE


@dataclass(frozen=True)
class HistoryVerdict:
    """The earlier turns' verdict: a refused user turn refuses the request; flagged assistant turns (the
    client wrote them, so they are untrusted) are left out of every prompt, by index into the history."""

    refused: Verdict | None = None
    withheld: list[int] = field(default_factory=list)


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class TurnGuards:
    def __init__(
        self,
        screen: PromptScreen,
        budget: TokenBudget,
        *,
        log_content: bool = False,
        screen_budget_ms: float = DEFAULT_SCREEN_BUDGET_MS,
    ) -> None:
        self.screen = screen
        self.budget = budget
        self.log_content = log_content
        self.screen_budget_ms = screen_budget_ms
        self._verdicts: dict[bytes, bool] = {}
        # Verdicts of conversation turns by the digest of their text (questions too: a question screened
        # as the last message is free when it comes back as an earlier turn); per replica, bounded.
        self._turns: dict[bytes, tuple[bool, str]] = {}

    async def screen_history(
        self, history: Sequence[tuple[str, str]], principal: Principal
    ) -> HistoryVerdict:
        """Screens every earlier turn of the conversation, each once per replica (verdicts cached by digest).

        A user turn refused on its own is refused as history too; an assistant turn is the client's word
        for what the assistant said (forgeable), so a flagged one is withheld from the prompts. The turns
        not yet seen share a CPU budget (`screen_budget_ms`): past it the request is refused, fail closed,
        rather than hold the event loop for a conversation of new text."""
        digests = [_digest(content.strip()) for _, content in history]
        verdicts = {i: self._turns[d] for i, d in enumerate(digests) if d in self._turns}
        started = time.thread_time()
        for i in [i for i in range(len(history)) if i not in verdicts]:
            if (time.thread_time() - started) * 1000 > self.screen_budget_ms:
                raise ProblemError(
                    INPUT_TOO_LARGE,
                    f"screening the conversation's earlier turns took more than {self.screen_budget_ms:g} ms "
                    "of CPU (CHATFLEET_GUARDS_BUDGET_MS); send fewer or shorter earlier messages",
                    extensions={"limit": "guards_budget_ms", "max": self.screen_budget_ms},
                )
            text = history[i][1].strip()
            decision = (await self.screen.screen(text, ())).user
            assert decision is not None  # a screen given a prompt judges it
            log_decision(decision, tenant=principal.tenant, text=text, log_content=self.log_content)
            verdicts[i] = (decision.attack, decision.detector)
            self._remember_turn(digests[i], decision.attack, decision.detector)
        refused: Verdict | None = None
        withheld: list[int] = []
        for i, (role, _) in enumerate(history):
            attack, detector = verdicts[i]
            if not attack:
                continue
            if role == "user":
                refused = refused or Verdict(True, detector)
            else:
                withheld.append(i)
        return HistoryVerdict(refused, withheld)

    def _remember_turn(self, digest: bytes, attack: bool, detector: str) -> None:
        self._turns[digest] = (attack, detector)
        if len(self._turns) > TURN_CACHE_SIZE:
            self._turns.pop(next(iter(self._turns)))  # oldest first

    async def screen_turn(
        self, question: str | None, hits: Sequence[Hit], principal: Principal
    ) -> tuple[Verdict, list[Hit], list[Hit]]:
        """The question's verdict and the sources split into kept and withheld, from one screening call
        (Prompt Shields takes a prompt and its documents in one round trip).

        Retrieved text is data, yet an indirect injection hides there; flagged chunks are withheld. Their
        verdicts are cached by content digest: the same chunks are retrieved over and over, and screening
        is CPU work on the event loop (tens of ms per long chunk with the local detector).
        """
        digests = [_digest(h.content) for h in hits]
        unknown = [i for i, d in enumerate(digests) if d not in self._verdicts]
        verdict = Verdict(False, "none")
        if question is not None or unknown:
            result = await self.screen.screen(question, [hits[i].content for i in unknown])
            if question is not None and (user := result.user) is not None:
                log_decision(user, tenant=principal.tenant, text=question, log_content=self.log_content)
                verdict = Verdict(user.attack, user.detector)
                self._remember_turn(_digest(question), user.attack, user.detector)
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
            await self.budget.reserve(principal.tenant, estimated_tokens)
        except BudgetUnavailable as exc:
            raise ProblemError(
                BUDGET_UNAVAILABLE,
                "the token budget cannot be checked right now; try again shortly",
                retry_after_s=5,
            ) from exc
        except BudgetExceeded as exc:
            raise ProblemError(
                RATE_LIMITED,
                "your organization's chat token budget for this minute is used up",
                retry_after_s=exc.retry_after_s,
            ) from exc

    async def record_usage(self, principal: Principal, actual_tokens: int, estimated_tokens: int) -> None:
        """Settles the reservation with what the model really used."""
        await self.budget.settle(principal.tenant, actual_tokens, estimated_tokens)

    async def aclose(self) -> None:
        await self.screen.aclose()
        await self.budget.aclose()

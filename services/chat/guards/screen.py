"""The screen the chain calls: one user prompt plus the retrieved documents in, one decision each out.

The interface and the in-process screens. Prompt Shields builds on `LocalScreen` (its fallback) and
`guards.factory` picks among them all, so the imports run one way: factory -> prompt_shields -> screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from chatfleet.chat.guards.classifier import bundled_classifier
from chatfleet.chat.guards.decision import GuardDecision, ScreenResult
from chatfleet.chat.guards.local_detector import LocalInjectionDetector


class PromptScreen(Protocol):
    name: str

    async def screen(self, user_prompt: str | None, documents: Sequence[str] = ()) -> ScreenResult: ...

    async def aclose(self) -> None: ...


class LocalScreen:
    """The local detector, rules plus the bundled classifier (trained here, once per process); well under
    a millisecond per question, so it runs inline on the event loop."""

    name = "local"

    def __init__(self, detector: LocalInjectionDetector | None = None) -> None:
        self.detector = detector or LocalInjectionDetector(classifier=bundled_classifier())

    async def screen(self, user_prompt: str | None, documents: Sequence[str] = ()) -> ScreenResult:
        return self.screen_sync(user_prompt, documents)

    def screen_sync(self, user_prompt: str | None, documents: Sequence[str] = ()) -> ScreenResult:
        user = self.detector.detect(user_prompt, "user") if user_prompt is not None else None
        return ScreenResult(user, tuple(self.detector.detect(d, "document") for d in documents))

    async def aclose(self) -> None:
        return None


class DisabledScreen:
    """CHATFLEET_GUARDS_MODE=off (dev only): every text passes, and the decisions say so."""

    name = "off"

    async def screen(self, user_prompt: str | None, documents: Sequence[str] = ()) -> ScreenResult:
        def clean(target: Any) -> GuardDecision:
            return GuardDecision(False, 0.0, (), self.name, target)

        return ScreenResult(
            clean("user") if user_prompt is not None else None, tuple(clean("document") for _ in documents)
        )

    async def aclose(self) -> None:
        return None

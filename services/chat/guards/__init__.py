"""Responsible-AI guards: prompt-injection/jailbreak screening of user input and retrieved documents."""

from chatfleet.chat.guards.decision import GuardDecision, ScreenResult, log_decision
from chatfleet.chat.guards.factory import build_screen
from chatfleet.chat.guards.local_detector import LocalInjectionDetector
from chatfleet.chat.guards.screen import DisabledScreen, LocalScreen, PromptScreen

__all__ = [
    "DisabledScreen",
    "GuardDecision",
    "LocalInjectionDetector",
    "LocalScreen",
    "PromptScreen",
    "ScreenResult",
    "build_screen",
    "log_decision",
]

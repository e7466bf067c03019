"""Picks the prompt screen from settings: the one module that knows every implementation."""

from __future__ import annotations

import logging
from typing import Any

from chatfleet.chat.guards.prompt_shields import PromptShieldsScreen
from chatfleet.chat.guards.screen import DisabledScreen, LocalScreen, PromptScreen

log = logging.getLogger(__name__)


def build_screen(settings: Any) -> PromptScreen:
    """CHATFLEET_GUARDS_MODE: local (default) | prompt_shields (local detector as fallback) | off."""
    mode = settings.guards_mode
    if mode == "off":
        log.warning("prompt-injection screening is OFF (CHATFLEET_GUARDS_MODE=off)")
        return DisabledScreen()
    if mode == "prompt_shields":
        key = settings.content_safety_key.get_secret_value() if settings.content_safety_key else None
        return PromptShieldsScreen(settings.content_safety_endpoint, api_key=key, fallback=LocalScreen())
    return LocalScreen()

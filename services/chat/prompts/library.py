"""The prompt library of a running service: the shipped templates overlaid by an app's mounted folder.

The file schema, validation and selection live in `chatfleet.prompts.templates`, shared with the operator,
which checks an app's prompt ConfigMap with the same rules before it rolls a revision out. Here they are
applied once at start-up (`CHATFLEET_PROMPTS_DIR`, `CHATFLEET_PROMPT_VERSIONS`), so a bad template fails
the pod instead of a request.
"""

from __future__ import annotations

from pathlib import Path

from chatfleet.prompts.templates import (
    SHIPPED_DIR,
    PromptTemplate,
    PromptTemplateError,
    RenderedChat,
    load_folder,
    select,
    selected_versions,
)

DEFAULT_TEMPLATES_DIR = SHIPPED_DIR
Prompt = PromptTemplate
PromptLibraryError = PromptTemplateError

__all__ = ["DEFAULT_TEMPLATES_DIR", "Prompt", "PromptLibrary", "PromptLibraryError", "RenderedChat"]


class PromptLibrary:
    """The template selected per id (pinned by settings, else the newest)."""

    def __init__(self, selected: dict[str, Prompt]) -> None:
        self._selected = selected

    @classmethod
    def load(cls, extra_dir: Path | None = None, pins: dict[str, str] | None = None) -> PromptLibrary:
        templates = load_folder(SHIPPED_DIR) + (load_folder(extra_dir) if extra_dir else [])
        _, selected = select(templates, pins)
        return cls(selected)

    def get(self, prompt_id: str) -> Prompt:
        return self._selected[prompt_id]

    def versions(self) -> dict[str, str]:
        """Selected version per id, as shown by GET /config."""
        return selected_versions(self._selected)

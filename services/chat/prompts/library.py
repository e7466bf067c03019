"""The prompt library: versioned templates (id + version + declared variables) validated when loaded.

Templates ship next to this module and can be overlaid by a folder an app team mounts from a ConfigMap
(`CHATFLEET_PROMPTS_DIR`). A template version is immutable: a mounted file may add versions, never
redefine a shipped one. Placeholders use `string.Template` (`${name}`) so JSON or code braces in prompts
need no escaping. Every placeholder must be declared and every declared variable used, so a typo fails the
pod at start-up instead of sending `${sourcse}` to the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_TEMPLATES_DIR = Path(__file__).parent  # shipped *.yaml live next to this module (package data)

# What the chain needs from each template id: kind and the exact variables it passes.
REQUIRED_TEMPLATES: dict[str, tuple[str, frozenset[str]]] = {
    "query_rewrite": ("chat", frozenset({"question"})),
    "answer": ("chat", frozenset({"question", "sources"})),
    "no_sources": ("text", frozenset({"question"})),
}


class PromptLibraryError(ValueError):
    """A template file is malformed; the message names the file and the problem."""


class PromptFile(BaseModel):
    """Schema of one template file (YAML)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    version: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$")
    description: str = ""
    kind: Literal["chat", "text"] = "chat"
    variables: list[str] = Field(default_factory=list)
    system: str | None = None
    user: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class RenderedChat:
    system: str
    user: str


@dataclass(frozen=True)
class Prompt:
    """A validated template; `ref` (id@version) goes into traces and context.thoughts."""

    id: str
    version: str
    kind: str
    variables: frozenset[str]
    parts: dict[str, Template]
    origin: str

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def _substitute(self, part: str, values: dict[str, str]) -> str:
        given = set(values)
        if given != self.variables:
            raise PromptLibraryError(
                f"prompt {self.ref}: variables given {sorted(given)} != declared {sorted(self.variables)}"
            )
        return self.parts[part].substitute(values)

    def render_chat(self, **values: str) -> RenderedChat:
        return RenderedChat(system=self._substitute("system", values), user=self._substitute("user", values))

    def render_text(self, **values: str) -> str:
        return self._substitute("text", values)


def _version_key(version: str) -> tuple[int, ...] | tuple[int, str]:
    parts = re.split(r"[.]", version)
    if all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return (-1, version)


def _load_file(path: Path) -> Prompt:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PromptLibraryError(f"{path}: cannot read YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PromptLibraryError(f"{path}: a prompt file must be a mapping")
    raw = {k: (str(v) if k == "version" and isinstance(v, int | float) else v) for k, v in raw.items()}
    try:
        spec = PromptFile.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PromptLibraryError(f"{path}: {fields}") from exc
    part_names = ("system", "user") if spec.kind == "chat" else ("text",)
    parts: dict[str, Template] = {}
    for name in part_names:
        body = getattr(spec, name)
        if not body:
            raise PromptLibraryError(f"{path}: kind {spec.kind} needs a non-empty `{name}`")
        template = Template(body)
        if not template.is_valid():
            raise PromptLibraryError(
                f"{path}: `{name}` has an invalid placeholder (use ${{name}}; $$ for a literal $)"
            )
        parts[name] = template
    for name in {"system", "user", "text"} - set(part_names):
        if getattr(spec, name):
            raise PromptLibraryError(f"{path}: kind {spec.kind} must not have `{name}`")
    declared = set(spec.variables)
    if len(declared) != len(spec.variables):
        raise PromptLibraryError(f"{path}: duplicate names in variables")
    used = {ident for t in parts.values() for ident in t.get_identifiers()}
    if undeclared := used - declared:
        raise PromptLibraryError(f"{path}: placeholders not declared in variables: {sorted(undeclared)}")
    if unused := declared - used:
        raise PromptLibraryError(f"{path}: declared variables never used: {sorted(unused)}")
    return Prompt(spec.id, spec.version, spec.kind, frozenset(declared), parts, str(path))


class PromptLibrary:
    """All loaded versions, and the one selected per id (pinned by settings, else the newest)."""

    def __init__(self, selected: dict[str, Prompt]) -> None:
        self._selected = selected

    @classmethod
    def load(cls, extra_dir: Path | None = None, pins: dict[str, str] | None = None) -> PromptLibrary:
        folders = [DEFAULT_TEMPLATES_DIR] + ([extra_dir] if extra_dir else [])
        prompts: dict[tuple[str, str], Prompt] = {}
        for folder in folders:
            if not folder.is_dir():
                raise PromptLibraryError(f"prompts folder {folder} does not exist")
            for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
                prompt = _load_file(path)
                key = (prompt.id, prompt.version)
                if key in prompts:
                    raise PromptLibraryError(
                        f"{path}: {prompt.ref} already defined in {prompts[key].origin}; "
                        "versions are immutable, add a new one"
                    )
                prompts[key] = prompt
        selected: dict[str, Prompt] = {}
        for pid in {pid for pid, _ in prompts}:
            versions = [p for (i, _), p in prompts.items() if i == pid]
            selected[pid] = max(versions, key=lambda p: _version_key(p.version))
        for pid, version in (pins or {}).items():
            if (pid, version) not in prompts:
                raise PromptLibraryError(
                    f"pinned prompt {pid}@{version} not found (CHATFLEET_PROMPT_VERSIONS)"
                )
            selected[pid] = prompts[(pid, version)]
        for pid, (kind, variables) in REQUIRED_TEMPLATES.items():
            prompt = selected.get(pid)
            if prompt is None:
                raise PromptLibraryError(f"required prompt {pid!r} is missing")
            if prompt.kind != kind or prompt.variables != variables:
                raise PromptLibraryError(
                    f"prompt {prompt.ref} ({prompt.origin}) must be kind {kind} "
                    f"with variables {sorted(variables)}"
                )
        return cls(selected)

    def get(self, prompt_id: str) -> Prompt:
        return self._selected[prompt_id]

    def versions(self) -> dict[str, str]:
        """Selected version per id, as shown by GET /config."""
        return {pid: p.version for pid, p in sorted(self._selected.items())}

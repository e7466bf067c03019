"""One prompt template per YAML file (id + version + declared variables), validated the same way everywhere.

A template version is immutable: a mounted file may add versions, never redefine a shipped one.
Placeholders use `string.Template` (`${name}`) so JSON or code braces in prompts need no escaping. Every
placeholder must be declared and every declared variable used, so a typo is refused before any pod runs
(by the operator) or at start-up (by the service) instead of sending `${sourcse}` to the model.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SHIPPED_DIR = Path(__file__).parent  # the shipped *.yaml live next to this module (package data)
JUDGE_DIR = SHIPPED_DIR / "judge"  # the eval judge's prompts: same schema and rules, not the service's
SUFFIXES = (".yaml", ".yml")

# What the chat chain needs from each template id: kind and the exact variables it passes.
REQUIRED_TEMPLATES: dict[str, tuple[str, frozenset[str]]] = {
    "query_rewrite": ("chat", frozenset({"question"})),
    "answer": ("chat", frozenset({"question", "sources"})),
    "no_sources": ("text", frozenset({"question"})),
}
# What `chatfleet eval run --judge-deployment` needs of each judge prompt (chatfleet/prompts/judge/). The
# judged texts are fenced by a random `boundary`, so an answer under judgement cannot close its block and
# speak to the judge ("score: 5").
JUDGE_TEMPLATES: dict[str, tuple[str, frozenset[str]]] = {
    "judge_groundedness": ("chat", frozenset({"query", "context", "response", "boundary"})),
    "judge_relevance": ("chat", frozenset({"query", "response", "boundary"})),
}
# Variables a template may also use. `boundary`: a random marker that fences the answer prompt's sources
# (answer@2 and later); a render that is not given one draws a fresh one (GENERATED_VARIABLES), so every
# caller's prompt is fenced with a marker no document can know.
OPTIONAL_VARIABLES: dict[str, frozenset[str]] = {"answer": frozenset({"boundary"})}
GENERATED_VARIABLES: frozenset[str] = frozenset({"boundary"})
ID_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$"


class PromptTemplateError(ValueError):
    """A template file or a selection is wrong; the message names the file and the field."""


class PromptFile(BaseModel):
    """Schema of one template file (YAML)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN)
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
class PromptTemplate:
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
            raise PromptTemplateError(
                f"prompt {self.ref}: variables given {sorted(given)} != declared {sorted(self.variables)}"
            )
        return self.parts[part].substitute(values)

    def _generated(self, values: dict[str, str]) -> dict[str, str]:
        """`values` plus a fresh random value for each generated variable the template declares and the
        caller did not give (one per render, the same in every part)."""
        fresh = {n: secrets.token_hex(8) for n in GENERATED_VARIABLES & self.variables if n not in values}
        return {**values, **fresh}

    def render_chat(self, **values: str) -> RenderedChat:
        values = self._generated(values)
        return RenderedChat(system=self._substitute("system", values), user=self._substitute("user", values))

    def render_text(self, **values: str) -> str:
        return self._substitute("text", self._generated(values))


def version_key(version: str) -> tuple[int, ...] | tuple[int, str]:
    """Numeric versions compare as numbers (10 after 2); any other version sorts before them."""
    parts = re.split(r"[.]", version)
    if all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return (-1, version)


def parse_template(text: str, origin: str) -> PromptTemplate:
    """Validates one file's text; `origin` (a path or a ConfigMap key) starts every error message."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PromptTemplateError(f"{origin}: cannot read YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PromptTemplateError(f"{origin}: a prompt file must be a mapping")
    raw = {k: (str(v) if k == "version" and isinstance(v, int | float) else v) for k, v in raw.items()}
    try:
        spec = PromptFile.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PromptTemplateError(f"{origin}: {fields}") from exc
    part_names = ("system", "user") if spec.kind == "chat" else ("text",)
    parts: dict[str, Template] = {}
    for name in part_names:
        body = getattr(spec, name)
        if not body:
            raise PromptTemplateError(f"{origin}: kind {spec.kind} needs a non-empty `{name}`")
        template = Template(body)
        if not template.is_valid():
            raise PromptTemplateError(
                f"{origin}: `{name}` has an invalid placeholder (use ${{name}}; $$ for a literal $)"
            )
        parts[name] = template
    for name in {"system", "user", "text"} - set(part_names):
        if getattr(spec, name):
            raise PromptTemplateError(f"{origin}: kind {spec.kind} must not have `{name}`")
    declared = set(spec.variables)
    if len(declared) != len(spec.variables):
        raise PromptTemplateError(f"{origin}: variables: duplicate names")
    used = {ident for t in parts.values() for ident in t.get_identifiers()}
    if undeclared := used - declared:
        raise PromptTemplateError(f"{origin}: placeholders not declared in variables: {sorted(undeclared)}")
    if unused := declared - used:
        raise PromptTemplateError(f"{origin}: variables: declared but never used: {sorted(unused)}")
    return PromptTemplate(spec.id, spec.version, spec.kind, frozenset(declared), parts, origin)


def template_files(names: Iterable[str], where: str) -> list[str]:
    """The template names among a folder's (or ConfigMap's) entries, sorted.

    Hidden names are skipped (a mounted ConfigMap's `..data` bookkeeping); any other name that is not
    YAML is refused, since the service would otherwise ignore a file its author meant it to read."""
    visible = sorted(name for name in names if not name.startswith("."))
    if stray := [name for name in visible if not name.endswith(SUFFIXES)]:
        raise PromptTemplateError(
            f"{where}: {', '.join(stray)}: not a prompt file (only *.yaml and *.yml are read)"
        )
    return visible


def load_folder(folder: Path) -> list[PromptTemplate]:
    """Every template file of a folder (the shipped one, or a mounted ConfigMap)."""
    if not folder.is_dir():
        raise PromptTemplateError(f"prompts folder {folder} does not exist")
    entries = [p.name for p in folder.iterdir() if p.is_file()]
    if folder == SHIPPED_DIR:
        entries = [name for name in entries if name.endswith(SUFFIXES)]  # the package's own .py files
    templates = []
    for name in template_files(entries, str(folder)):
        path = folder / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PromptTemplateError(f"{path}: cannot read: {exc}") from exc
        templates.append(parse_template(text, str(path)))
    return templates


def load_mapping(files: Mapping[str, str], where: str) -> list[PromptTemplate]:
    """Every template of a ConfigMap's data, as the pod would see it mounted (key = file name)."""
    return [parse_template(files[name], f"{where}: {name}") for name in template_files(files, where)]


def select(
    templates: Iterable[PromptTemplate],
    pins: Mapping[str, str] | None = None,
    required: Mapping[str, tuple[str, frozenset[str]]] = REQUIRED_TEMPLATES,
) -> tuple[dict[tuple[str, str], PromptTemplate], dict[str, PromptTemplate]]:
    """All versions by (id, version) and the one chosen per id: the pinned one, else the newest.

    `required`: the ids the caller needs, with kind and variables (the chat chain's by default)."""
    prompts: dict[tuple[str, str], PromptTemplate] = {}
    for prompt in templates:
        key = (prompt.id, prompt.version)
        if key in prompts:
            raise PromptTemplateError(
                f"{prompt.origin}: {prompt.ref} already defined in {prompts[key].origin}; "
                "versions are immutable, add a new one"
            )
        prompts[key] = prompt
    selected: dict[str, PromptTemplate] = {}
    for prompt in prompts.values():
        best = selected.get(prompt.id)
        if best is None or version_key(prompt.version) > version_key(best.version):
            selected[prompt.id] = prompt
    for pid, version in (pins or {}).items():
        if (pid, version) not in prompts:
            known = sorted((v for i, v in prompts if i == pid), key=version_key)
            raise PromptTemplateError(
                f"pinned prompt {pid}@{version} not found (versions of {pid}: {', '.join(known) or 'none'})"
            )
        selected[pid] = prompts[(pid, version)]
    for pid, (kind, variables) in required.items():
        needed = selected.get(pid)
        if needed is None:
            raise PromptTemplateError(f"required prompt {pid!r} is missing")
        optional = OPTIONAL_VARIABLES.get(pid, frozenset())
        if needed.kind != kind or needed.variables - optional != variables:
            also = f" (may also use {sorted(optional)})" if optional else ""
            raise PromptTemplateError(
                f"prompt {needed.ref} ({needed.origin}) must be kind {kind} "
                f"with variables {sorted(variables)}{also}"
            )
    return prompts, selected


def selected_versions(selected: Mapping[str, PromptTemplate]) -> dict[str, str]:
    """Chosen version per id, sorted by id (GET /config shows it; the operator checks the same)."""
    return {pid: p.version for pid, p in sorted(selected.items())}

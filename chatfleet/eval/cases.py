"""The eval set: JSON lines, one case a line, validated with line-numbered errors before any request goes out.

A case names the question, the tenant that asks it, the documents a right answer comes from
(`expected_sources`, file names such as `travel-policy.md`; empty when the corpus cannot answer), the facts
a correct answer contains (`reference`), whether it is answerable at all, and earlier turns (`history`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chatfleet.paths import SAMPLE_CORPUS_DIR

SAMPLE_SET = "sample"
SAMPLE_SET_FILE = "eval-set.jsonl"


class EvalSetError(ValueError):
    """The eval set cannot be used; the message names the file and line."""


class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class EvalCase(BaseModel):
    """One question of the eval set and what a right answer looks like."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field("", max_length=200, description="Stable name for `compare`; default: line-<n>.")
    question: str = Field(min_length=1, max_length=4000)
    tenant: str = Field(min_length=1, max_length=63)
    expected_sources: list[str] = Field(default_factory=list)
    reference: str | None = Field(None, min_length=1)
    answerable: bool = True
    history: list[HistoryTurn] = Field(default_factory=list)
    review: bool = Field(
        False,
        description="Generated from user feedback (`eval import-feedback`) and not yet checked by a person: "
        "`eval run` refuses it until expected_sources/reference are confirmed and the flag removed.",
    )
    comment: str | None = Field(None, max_length=20000, description="Why: e.g. the user's feedback comment.")

    @model_validator(mode="after")
    def _consistent(self) -> EvalCase:
        if self.review:
            return self  # a draft: the reviewer settles what a right answer is
        if self.answerable and not self.expected_sources:
            raise ValueError("an answerable case needs expected_sources (or set answerable: false)")
        if not self.answerable and (self.expected_sources or self.reference):
            raise ValueError("an unanswerable case has no expected_sources and no reference")
        return self


@dataclass(frozen=True)
class EvalSet:
    """The cases of one file and its SHA-256, so a report says exactly which set it measured."""

    cases: list[EvalCase]
    sha256: str


def resolve_set_path(name: str) -> Path:
    """`sample` is the shipped set for the sample corpus; anything else is a file path."""
    if name == SAMPLE_SET:
        return SAMPLE_CORPUS_DIR / SAMPLE_SET_FILE
    return Path(name)


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def load_eval_set(path: Path) -> EvalSet:
    """Every case of the file, or EvalSetError naming the first bad line; ids must be unique."""
    try:
        raw = path.read_bytes()
        lines = raw.decode("utf-8").splitlines()
    except OSError as error:
        raise EvalSetError(f"{path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise EvalSetError(f"{path}: not UTF-8 text") from None
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise EvalSetError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise EvalSetError(f"{path}:{number}: a case is a JSON object")
        try:
            case = EvalCase.model_validate(data)
        except ValidationError as error:
            raise EvalSetError(f"{path}:{number}: {_problem(error)}") from None
        if case.review:
            raise EvalSetError(
                f"{path}:{number}: case still marked review: true (generated from feedback): confirm its "
                "expected_sources and reference, then remove the flag"
            )
        if not case.id:
            case.id = f"line-{number}"
        if case.id in seen:
            raise EvalSetError(f"{path}:{number}: duplicate id {case.id!r}")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise EvalSetError(f"{path}: no cases")
    return EvalSet(cases, hashlib.sha256(raw).hexdigest())

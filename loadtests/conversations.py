"""The conversations load-test users hold: multi-turn, per tenant, read from a JSON-lines data file.

Real traffic is varied follow-ups over a tenant's own documents, not one repeated question; repeated
questions would also hit caches and hide retrieval cost. Each line of the file is
`{"id", "tenant", "turns": [question, ...], "long": bool}`; `long` marks questions that ask for detail.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


def default_conversations_path() -> Path:
    return Path(str(resources.files("chatfleet.loadtests") / "data" / "conversations.jsonl"))


class ConversationFileError(ValueError):
    """The data file is unusable; the message names the file, line and field."""


@dataclass(frozen=True)
class Conversation:
    id: str
    tenant: str
    turns: tuple[str, ...]
    long: bool = False


def _parse(line: str, where: str) -> Conversation:
    try:
        raw = json.loads(line)
    except ValueError as error:
        raise ConversationFileError(f"{where}: not JSON ({error})") from None
    if not isinstance(raw, dict):
        raise ConversationFileError(f"{where}: expected an object")
    for key in ("id", "tenant"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ConversationFileError(f"{where}: field '{key}' must be a non-empty string")
    turns = raw.get("turns")
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise ConversationFileError(f"{where}: field 'turns' must be a non-empty list of questions")
    long = raw.get("long", False)
    if not isinstance(long, bool):
        raise ConversationFileError(f"{where}: field 'long' must be true or false")
    return Conversation(raw["id"], raw["tenant"], tuple(turns), long)


def load_conversations(path: Path | None = None) -> list[Conversation]:
    path = path or default_conversations_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConversationFileError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConversationFileError(f"{path}: not UTF-8 text") from None
    conversations = [
        _parse(line, f"{path}:{number}")
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not conversations:
        raise ConversationFileError(f"{path}: no conversations")
    return conversations


@dataclass(frozen=True)
class ConversationBook:
    """Conversations grouped by tenant, so each user draws only from its own tenant's topics."""

    by_tenant: dict[str, tuple[Conversation, ...]]

    @classmethod
    def of(cls, conversations: list[Conversation]) -> ConversationBook:
        grouped: dict[str, list[Conversation]] = {}
        for conversation in conversations:
            grouped.setdefault(conversation.tenant, []).append(conversation)
        return cls({tenant: tuple(items) for tenant, items in grouped.items()})

    def require(self, tenants: list[str], *, long: bool = False) -> None:
        """Fails before the run when a tenant (or its long questions) has nothing to ask."""
        for tenant in tenants:
            if not self._choices(tenant, long):
                kind = "long-answer conversations" if long else "conversations"
                raise ConversationFileError(f"no {kind} for tenant '{tenant}' in the data file")

    def _choices(self, tenant: str, long: bool) -> tuple[Conversation, ...]:
        available = self.by_tenant.get(tenant, ())
        return tuple(c for c in available if c.long) if long else available

    def pick(self, tenant: str, rng: random.Random, *, long: bool = False) -> Conversation:
        return rng.choice(self._choices(tenant, long))

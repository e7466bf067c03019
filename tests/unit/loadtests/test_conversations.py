"""Conversations come from a data file, per tenant, multi-turn; bad files are refused by line and field."""

import random
from pathlib import Path

import pytest

from chatfleet.loadtests.conversations import ConversationBook, ConversationFileError, load_conversations


def test_packaged_file_has_multi_turn_conversations_for_both_tenants() -> None:
    conversations = load_conversations()
    book = ConversationBook.of(conversations)
    book.require(["contoso", "fabrikam"])
    book.require(["contoso", "fabrikam"], long=True)
    assert any(len(c.turns) >= 3 for c in conversations)
    assert len({c.turns[0] for c in conversations}) == len(conversations)  # not one fixed question
    picked = book.pick("fabrikam", random.Random(1))
    assert picked.tenant == "fabrikam"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ('{"id": "x", "tenant": "", "turns": ["q"]}', "field 'tenant'"),
        ('{"id": "x", "tenant": "t", "turns": []}', "field 'turns'"),
        ('{"id": "x", "tenant": "t", "turns": ["q"], "long": "yes"}', "field 'long'"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "ok", "tenant": "t", "turns": ["q"]}\n' + line + "\n")
    with pytest.raises(ConversationFileError, match=rf"c.jsonl:2: {message}"):
        load_conversations(path)


def test_missing_tenant_is_refused_before_a_run(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "ok", "tenant": "contoso", "turns": ["q"]}\n')
    book = ConversationBook.of(load_conversations(path))
    with pytest.raises(ConversationFileError, match="no conversations for tenant 'fabrikam'"):
        book.require(["fabrikam"])
    with pytest.raises(ConversationFileError, match="no long-answer conversations"):
        book.require(["contoso"], long=True)

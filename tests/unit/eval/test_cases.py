"""Eval-set validation: clear, line-numbered errors before any request goes out; the shipped set loads."""

from pathlib import Path

import pytest

from chatfleet.eval.cases import EvalSetError, load_eval_set, resolve_set_path

GOOD = '{"question": "Q?", "tenant": "contoso", "expected_sources": ["a.md"]}'


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_defaults_and_history(tmp_path: Path) -> None:
    loaded = load_eval_set(
        write(
            tmp_path,
            GOOD,
            "",
            '{"id": "x", "question": "Capital?", "tenant": "t", "answerable": false,'
            ' "history": [{"role": "user", "content": "hi"}]}',
        )
    )
    cases = loaded.cases
    assert [c.id for c in cases] == ["line-1", "x"]
    assert len(loaded.sha256) == 64
    assert cases[0].answerable and cases[0].reference is None
    assert cases[1].history[0].role == "user"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "set.jsonl:2: not JSON"),
        ("[1]", "set.jsonl:2: a case is a JSON object"),
        ('{"tenant": "t", "expected_sources": ["a.md"]}', "set.jsonl:2: question: Field required"),
        ('{"question": "Q", "tenant": "t"}', "set.jsonl:2: an answerable case needs expected_sources"),
        (
            '{"question": "Q", "tenant": "t", "answerable": false, "expected_sources": ["a.md"]}',
            "set.jsonl:2: an unanswerable case has no expected_sources",
        ),
        ('{"question": "Q", "tenant": "t", "expected_sources": ["a.md"], "refrence": "x"}', "refrence"),
        (
            '{"question": "Q", "tenant": "t", "expected_sources": ["a.md"], "history": [{"role": "system",'
            ' "content": "x"}]}',
            "set.jsonl:2: history.0.role",
        ),
        ('{"id": "line-1", ' + GOOD[1:], "set.jsonl:2: duplicate id 'line-1'"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(EvalSetError, match=message):
        load_eval_set(write(tmp_path, GOOD, line))


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(EvalSetError, match="No such file"):
        load_eval_set(tmp_path / "absent.jsonl")
    with pytest.raises(EvalSetError, match="no cases"):
        load_eval_set(write(tmp_path, ""))


def test_the_shipped_sample_set_names_real_documents() -> None:
    path = resolve_set_path("sample")
    cases = load_eval_set(path).cases
    corpus = path.parent
    assert {c.tenant for c in cases} == {"contoso", "fabrikam"}
    assert any(not c.answerable for c in cases) and any(c.history for c in cases)
    for c in cases:
        for source in c.expected_sources:
            assert (corpus / c.tenant / source).is_file(), f"{c.id}: {source} is not a {c.tenant} document"

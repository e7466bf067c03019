"""`chatfleet eval import-feedback`: thumbs-down turns from a real history file and from the service's log
become draft eval cases (`review: true`) that `eval run` refuses until a person has checked them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatfleet.chat.feedback import RatedTurn, log_feedback
from chatfleet.chat.history import Owner, SqliteHistoryStore, TurnFeedback, TurnRecord
from chatfleet.cli import app
from chatfleet.eval.cases import EvalCase, EvalSetError, load_eval_set


def record(session_id: str, question: str, at: float, turn_id: str) -> TurnRecord:
    return TurnRecord(
        session_id=session_id,
        question=question,
        answer=f"On {question} [docs/vpn-setup.md#2].",
        sources=[
            {"id": "docs/vpn-setup.md#2", "source": "docs/vpn-setup.md", "title": "VPN", "content": "c"}
        ],
        prompt_versions={"answer": "2"},
        deployment="primary",
        model="m",
        timings_ms={},
        created_at=at,
        turn_id=turn_id,
    )


@pytest.fixture
async def history(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite"
    store = await SqliteHistoryStore.open(path)
    ada = Owner("contoso", "ada")
    await store.add_turns(
        [
            (ada, record("session-1", "How do I connect?", 1.0, "t1")),
            (ada, record("session-1", "And on Linux?", 2.0, "t2")),
            (Owner("fabrikam", "bob"), record("session-2", "Thermostat E1?", 3.0, "t3")),
        ]
    )
    await store.set_feedback(ada, TurnFeedback("t2", "down", "Linux steps are missing", 4.0))
    await store.set_feedback(Owner("fabrikam", "bob"), TurnFeedback("t3", "up", None, 5.0))
    await store.aclose()
    return path


def log_file(tmp_path: Path) -> Path:
    def turn(turn_id: str, question: str | None) -> RatedTurn:
        return RatedTurn(
            turn_id,
            "fabrikam",
            "bob",
            {"answer": "2"},
            "primary",
            [{"id": "e1.md#0", "source": "e1.md"}],
            question,
        )

    lines = [
        "2026-12-07 16:00:00 INFO chatfleet.chat.turns: turn tenant=fabrikam route=/chat/stream outcome=ok",
        "2026-12-07 16:00:01 INFO chatfleet.chat.feedback: "
        + log_feedback(turn("l1", "What is E1?"), "down", None),
        "2026-12-07 16:00:02 INFO chatfleet.chat.feedback: " + log_feedback(turn("l2", None), "down", "bad"),
        "2026-12-07 16:00:03 INFO chatfleet.chat.feedback: " + log_feedback(turn("l3", "Hi?"), "up", None),
        # the page's flow on l1: 👎, then 👎 with the comment (one case, with it); l4: 👎, then 👍 (none)
        "2026-12-07 16:00:04 INFO chatfleet.chat.feedback: "
        + log_feedback(turn("l1", "What is E1?"), "down", "E1 is missing"),
        "2026-12-07 16:00:05 INFO chatfleet.chat.feedback: " + log_feedback(turn("l4", "E2?"), "down", None),
        "2026-12-07 16:00:06 INFO chatfleet.chat.feedback: " + log_feedback(turn("l4", "E2?"), "up", None),
    ]
    path = tmp_path / "service.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_thumbs_down_turns_become_draft_cases(history: Path, tmp_path: Path) -> None:
    out = tmp_path / "drafts.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "import-feedback",
            "--history",
            str(history),
            "--log",
            str(log_file(tmp_path)),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 draft cases" in result.output and "1 thumbs-down log lines skipped" in result.output
    cases = [EvalCase.model_validate(json.loads(line)) for line in out.read_text().splitlines()]
    by_id = {case.id: case for case in cases}
    assert set(by_id) == {"feedback-t2", "feedback-l1"}
    from_history = by_id["feedback-t2"]
    assert (from_history.question, from_history.tenant) == ("And on Linux?", "contoso")
    assert from_history.expected_sources == ["vpn-setup.md"]
    assert from_history.review and from_history.comment == "Linux steps are missing"
    assert [(t.role, t.content) for t in from_history.history] == [
        ("user", "How do I connect?"),
        ("assistant", "On How do I connect? [docs/vpn-setup.md#2]."),
    ]
    assert (by_id["feedback-l1"].tenant, by_id["feedback-l1"].expected_sources) == ("fabrikam", ["e1.md"])
    assert by_id["feedback-l1"].comment == "E1 is missing", "a turn's latest rating line is its verdict"

    with pytest.raises(EvalSetError, match="review: true"):
        load_eval_set(out)
    reviewed = [{**json.loads(line), "review": False} for line in out.read_text().splitlines()]
    out.write_text("".join(json.dumps(case) + "\n" for case in reviewed))
    assert len(load_eval_set(out).cases) == 2, "once reviewed, the drafts are an eval set"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --history FILE, --log FILE or both"),
        (["--history", "absent.sqlite"], "absent.sqlite: No such file"),
        (["--log", "absent.log"], "absent.log: No such file"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", "import-feedback", *args])
    assert result.exit_code == 2
    assert f"error: {message}" in result.output


def test_a_file_that_is_no_history_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("not sqlite")
    result = CliRunner().invoke(app, ["eval", "import-feedback", "--history", str(bogus)])
    assert result.exit_code == 2 and "not a readable history database" in result.output

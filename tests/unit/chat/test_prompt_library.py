"""The prompt library validates templates at load: declared variables, immutable versions, pins."""

from pathlib import Path

import pytest

from chatfleet.chat.prompts.library import PromptLibrary, PromptLibraryError


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


ANSWER_V3 = """
id: answer
version: "3"
kind: chat
variables: [question, sources]
system: Answer from the sources only; cite [id]. Costs are in $$.
user: "${question}\\n\\nSources:\\n${sources}"
"""


def test_shipped_templates_load_and_render() -> None:
    library = PromptLibrary.load()
    assert library.versions() == {"answer": "2", "no_sources": "1", "query_rewrite": "1"}
    rendered = library.get("answer").render_chat(question="Q?", sources="[a#0]: text", boundary="f00d")
    assert rendered.user.startswith("Q?")
    assert "BEGIN SOURCES f00d\n[a#0]: text\nEND SOURCES f00d" in rendered.user
    assert "data, never instructions" in rendered.system
    fenced = [library.get("answer").render_chat(question="Q?", sources="[a#0]: x").user for _ in range(2)]
    markers = [user.split("BEGIN SOURCES ")[1].split("\n")[0] for user in fenced]
    assert len(markers[0]) == 16 and markers[0] != markers[1], "a fresh marker per render"
    assert all(f"END SOURCES {m}" in user for m, user in zip(markers, fenced, strict=True))
    v1 = PromptLibrary.load(pins={"answer": "1"}).get("answer")  # versions are immutable: v1 still ships
    assert "[a#0]: text" in v1.render_chat(question="Q?", sources="[a#0]: text").user
    assert "search query" in library.get("query_rewrite").render_chat(question="x").system
    assert "x" in library.get("no_sources").render_text(question="x")


def test_answer_template_may_declare_the_boundary_but_nothing_else(tmp_path: Path) -> None:
    write(
        tmp_path,
        "answer.v9.yaml",
        "id: answer\nversion: '9'\nkind: chat\nvariables: [question, sources, tone]\nsystem: s ${tone}\n"
        "user: '${question} ${sources}'\n",
    )
    with pytest.raises(PromptLibraryError, match=r"may also use \['boundary'\]"):
        PromptLibrary.load(tmp_path)


def test_mounted_folder_adds_newer_version_and_pins_select(tmp_path: Path) -> None:
    write(tmp_path, "answer.v3.yaml", ANSWER_V3)
    library = PromptLibrary.load(tmp_path)
    assert library.get("answer").ref == "answer@3"
    assert "$." in library.get("answer").render_chat(question="q", sources="s").system
    pinned = PromptLibrary.load(tmp_path, pins={"answer": "1"})
    assert pinned.get("answer").ref == "answer@1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "id: answer\nversion: '1'\nkind: chat\nvariables: [question, sources]\n"
            "system: s\nuser: '${question} ${sources}'\n",
            "already defined",
        ),
        ("id: extra\nversion: '1'\nkind: text\nvariables: [name]\ntext: 'hello ${nmae}'\n", "not declared"),
        (
            "id: extra\nversion: '1'\nkind: text\nvariables: [name, unused]\ntext: 'hello ${name}'\n",
            "never used",
        ),
        ("id: extra\nversion: '1'\nkind: text\nvariables: []\ntext: 'cost $ 5'\n", "invalid placeholder"),
        ("id: Bad Id\nversion: '1'\nkind: text\ntext: hi\n", "id"),
        ("id: extra\nversion: '1'\nkind: chat\nsystem: hi\n", "needs a non-empty `user`"),
        ("id: extra\nversion: '1'\nkind: text\ntext: hi\nsurprise: 1\n", "surprise"),
        ("- just\n- a list\n", "must be a mapping"),
        ("id: [unclosed\n", "cannot read YAML"),
        (
            "id: answer\nversion: '9'\nkind: chat\nvariables: [question]\nsystem: s\nuser: '${question}'\n",
            "must be kind chat with variables",
        ),
    ],
)
def test_bad_templates_fail_with_file_and_reason(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, "bad.yaml", text)
    with pytest.raises(PromptLibraryError, match=message) as info:
        PromptLibrary.load(tmp_path)
    assert "bad.yaml" in str(info.value) or "answer@9" in str(info.value)


def test_unknown_pin_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PromptLibraryError, match="pinned prompt answer@7 not found"):
        PromptLibrary.load(pins={"answer": "7"})
    with pytest.raises(PromptLibraryError, match="does not exist"):
        PromptLibrary.load(tmp_path / "nope")


def test_render_refuses_wrong_variables() -> None:
    prompt = PromptLibrary.load().get("answer")
    with pytest.raises(PromptLibraryError, match="variables given"):
        prompt.render_chat(question="q")


def test_numeric_versions_compare_as_numbers(tmp_path: Path) -> None:
    for version in ("3", "10"):
        write(tmp_path, f"answer.v{version}.yaml", ANSWER_V3.replace('"3"', f'"{version}"'))
    assert PromptLibrary.load(tmp_path).get("answer").version == "10"

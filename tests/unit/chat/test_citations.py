"""The citation check keeps known ids, drops invented ones, and holds back only bracketed text."""

from chatfleet.chat.chain.citations import CitationFilter
from tests.helpers.citations import check_citations

ALLOWED = frozenset({"vpn.md#0", "reset.md#2"})


def test_known_kept_unknown_dropped() -> None:
    text, cited, dropped = check_citations(
        "Restart it [vpn.md#0]. Also [made-up#9] reset [reset.md#2].", ALLOWED
    )
    assert text == "Restart it [vpn.md#0]. Also  reset [reset.md#2]."
    assert cited == ["vpn.md#0", "reset.md#2"]
    assert dropped == ["made-up#9"]


def test_token_split_across_chunks() -> None:
    checker = CitationFilter(ALLOWED)
    out = [checker.feed(chunk) for chunk in ["See [vp", "n.md", "#0] and [x", "yz]", " done"]]
    assert out == ["See ", "", "[vpn.md#0] and ", "", " done"]
    assert checker.flush() == ""
    assert checker.dropped == ["xyz"]


def test_plain_text_streams_immediately() -> None:
    checker = CitationFilter(ALLOWED)
    assert checker.feed("no brackets here") == "no brackets here"


def test_prose_in_brackets_and_unclosed_brackets_survive() -> None:
    assert check_citations("a [see note below] b", ALLOWED)[0] == "a [see note below] b"
    assert check_citations("list [1, 2", ALLOWED)[0] == "list [1, 2"
    assert check_citations("x [[vpn.md#0]]", ALLOWED)[0] == "x [[vpn.md#0]]"
    assert check_citations("line [start\nnext", ALLOWED)[0] == "line [start\nnext"


def test_long_bracket_released() -> None:
    text = "[" + "a" * 500
    assert check_citations(text, ALLOWED)[0] == text

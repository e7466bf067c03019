"""A citation id the retrievers mint is one the simulator reads back from a source line and the chain's
citation check accepts, spaces and brackets in source names included."""

from chatfleet.contracts.citations import MAX_ID_CHARS, SOURCE_LINE, citation_id, source_line
from tests.helpers.citations import check_citations


def test_ids_survive_the_round_trip_through_a_prompt_and_an_answer() -> None:
    ids = [citation_id("handbook.md", 2), citation_id("team notes [draft].md", 0), citation_id("x" * 195, 7)]
    assert ids[1] == "team%20notes%20%5Bdraft%5D.md#0"
    prompt = "\n".join(source_line(cid, "one line of text") for cid in ids)
    assert [m.group(1) for m in SOURCE_LINE.finditer(prompt)] == ids
    answer = " ".join(f"fact [{cid}]." for cid in ids)
    assert check_citations(answer, frozenset(ids)) == (answer, ids, [])


def test_an_id_longer_than_the_limit_is_not_a_source() -> None:
    assert not SOURCE_LINE.match(source_line("x" * (MAX_ID_CHARS + 1), "text"))

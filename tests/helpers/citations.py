"""The chain's citation check over a whole text, for tests: the service only streams through the filter."""

from chatfleet.chat.chain.citations import CitationFilter


def check_citations(text: str, allowed: frozenset[str]) -> tuple[str, list[str], list[str]]:
    """The whole text through one filter: (checked text, cited ids, dropped ids)."""
    checker = CitationFilter(allowed)
    checked = checker.feed(text) + checker.flush()
    return checked, checker.cited, checker.dropped

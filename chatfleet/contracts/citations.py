"""The citation format: an answer cites `[source#chunk]`, read from `[id]: text` source lines in its prompt.

Retrievers mint the ids, the chain writes the source lines and checks the answer's citations against them,
the simulator reads the source lines back to answer from them, and load tests and benchmarks write them
for the upstream alone. An id is one bracket token: no whitespace or brackets, at most `MAX_ID_CHARS`.
"""

import re

MAX_ID_CHARS = 200
SOURCE_LINE = re.compile(rf"^[ \t]*\[([^\[\]\s]{{1,{MAX_ID_CHARS}}})\]:[ \t]*", re.MULTILINE)
"""A source line's start; group 1 is the citation id."""


def citation_id(source: str, chunk: int) -> str:
    """`source#chunk`, with spaces and brackets escaped so the id stays one `[id]` token."""
    return f"{source}#{chunk}".replace(" ", "%20").replace("[", "%5B").replace("]", "%5D")


def source_line(citation: str, text: str) -> str:
    """One source of a prompt; `text` must be one line, or it could start a fake source line."""
    return f"[{citation}]: {text}"

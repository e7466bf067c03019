"""Chunking: headings become titles, chunks stay under the size, neighbours overlap."""

import itertools

import pytest

from chatfleet.chat.ingest.chunking import chunk_markdown, chunk_text
from chatfleet.contracts.tokens import CHARS_PER_TOKEN

DOC = """# Router guide

Intro paragraph about the router.

## Reset
Hold the reset button for ten seconds. The light blinks orange. Wait two minutes.

```
## not a heading inside a fence
```

### Factory reset
All settings are erased.
"""


def test_headings_become_title_paths_and_fences_are_not_headings():
    chunks = chunk_markdown(DOC, "fallback")
    assert [c.title for c in chunks] == [
        "Router guide",
        "Router guide > Reset",
        "Router guide > Reset > Factory reset",
    ]
    assert "## not a heading inside a fence" in chunks[1].content


def test_document_without_h1_uses_the_fallback_title():
    chunks = chunk_markdown("Just text. More text.", "vpn setup")
    assert chunks[0].title == "vpn setup"


def test_size_limit_and_overlap():
    sentences = [f"Sentence number {i} explains one detail of the warranty terms." for i in range(200)]
    chunks = chunk_text(" ".join(sentences), "t", max_tokens=100, overlap=0.15)
    assert len(chunks) > 5
    assert all(len(c.content) <= 100 * CHARS_PER_TOKEN for c in chunks)
    for first, second in itertools.pairwise(chunks):
        last_sentence = first.content.split(". ")[-1]
        assert last_sentence in second.content  # the tail of a chunk opens the next one
    text = " ".join(c.content for c in chunks)
    assert all(s in text for s in sentences)  # nothing lost


def test_overlong_sentence_is_split_at_words():
    chunks = chunk_text("word " * 2000, "t", max_tokens=50, overlap=0.0)
    assert all(len(c.content) <= 200 for c in chunks)
    assert sum(c.content.count("word") for c in chunks) == 2000


def test_bad_overlap_rejected():
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("x", "t", overlap=0.7)

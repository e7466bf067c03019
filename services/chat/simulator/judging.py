"""The simulator as an LLM judge: a judge prompt (chatfleet/prompts/judge/) gets a rating derived from the
texts it fences, so a worse answer gets a worse score and nothing is flattered.

A judge prompt is recognised by its fenced data blocks (`BEGIN RESPONSE <marker>` ... `END RESPONSE
<marker>`, likewise QUERY and CONTEXT); a CONTEXT block makes it a groundedness rating, none a relevance
rating. The ratings are the deterministic rules below mapped onto the rubric's levels, with the text rules
of the eval metrics (chatfleet.contracts.lexical); docs/evaluation.md has the table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from chatfleet.chat.simulator.grounding import Source, split_sources
from chatfleet.chat.simulator.tokens import content_text
from chatfleet.contracts import lexical
from chatfleet.contracts.groundedness import SUPPORT_THRESHOLD, is_refusal

_BLOCK = re.compile(
    r"^[ \t]*BEGIN (QUERY|CONTEXT|RESPONSE) (\S+)[ \t]*\n(.*?)\n?[ \t]*END \1 \2[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_USER_LINE = re.compile(r"^user:[ \t]*(.*)$", re.MULTILINE)
# Shares of the question's content words a reply takes up: from FULL_SHARE on it answers the query (4: very
# minor omissions are acceptable), from PARTIAL_SHARE on it is partial (3), below it unhelpful (2).
FULL_SHARE, PARTIAL_SHARE = 0.75, 0.5


def judge_blocks(messages: Sequence[dict[str, object]]) -> dict[str, str] | None:
    """The fenced QUERY / CONTEXT / RESPONSE of a judge prompt; None when the request is not one."""
    blocks: dict[str, str] = {}
    for message in messages:
        text = content_text(message.get("content"))
        if "BEGIN RESPONSE " not in text:  # the cheap test first: every chat call passes through here
            continue
        for match in _BLOCK.finditer(text):
            blocks.setdefault(match.group(1), match.group(3).strip())
    return blocks if "QUERY" in blocks and "RESPONSE" in blocks else None


def latest_question(query: str) -> str:
    """The user's latest message: the last `user:` line of a conversation, else the whole query."""
    lines = _USER_LINE.findall(query)
    return lines[-1] if lines else query


def _supported(claim: str, sources: Sequence[Source]) -> bool:
    """A claim is supported by a source (the ones it cites, else any) that holds its numbers and most of
    its words: the eval's lexical half of groundedness, without an embedder."""
    cited = set(lexical.citations(claim))
    candidates = [s for s in sources if s.source_id in cited] or list(sources)
    text = lexical.CITATION.sub(" ", claim)
    numbers = set(_NUMBER.findall(text))
    return any(
        numbers <= set(_NUMBER.findall(s.text)) and lexical.containment(text, s.text) >= SUPPORT_THRESHOLD
        for s in candidates
    )


def _addressed(question: str, response: str) -> float:
    """Share of the question's content words the response takes up."""
    return lexical.containment(question, lexical.CITATION.sub(" ", response))


def groundedness_rating(query: str, context: str, response: str) -> tuple[int, str]:
    """3 nothing to ground (a refusal), 1 not responding to the query, 2 unsupported information, 4 grounded
    but leaving out what the context says about the query, 5 grounded and complete."""
    question = latest_question(query)
    if is_refusal(response) or not lexical.sentences(response):
        return 3, "The response gives no information that could be checked against the context."
    if _addressed(question, response) < PARTIAL_SHARE:
        return 1, "The response talks about the topic at most, it does not respond to the query."
    _, sources = split_sources(context)
    claims = lexical.sentences(response)
    unsupported = [c for c in claims if not _supported(c, sources)]
    if unsupported:
        return 2, f"{len(unsupported)} of {len(claims)} statements are not supported by the context."
    coverable = lexical.content_words(question) & lexical.content_words(context)
    missing = coverable - lexical.content_words(lexical.CITATION.sub(" ", response))
    if missing:
        return 4, f"Grounded, but leaves out what the context says about: {', '.join(sorted(missing))}."
    return 5, "Every statement is supported by the context and the query is fully answered."


def relevance_rating(query: str, response: str) -> tuple[int, str]:
    """1 off-topic, 2 non-answer or barely related, 3 partial, 4 full, 5 full with elaboration."""
    question = latest_question(query)
    if is_refusal(response) or not lexical.sentences(response):
        return 2, "The response acknowledges the query but gives no usable information."
    share = _addressed(question, response)
    if share == 0:
        return 1, "The response is unrelated to the query."
    if share < PARTIAL_SHARE:
        return 2, f"The response takes up only {share:.0%} of what the query asks about."
    if share < FULL_SHARE:
        return 3, f"The response addresses {share:.0%} of what the query asks about."
    if share < 1 or len(lexical.sentences(response)) < 2:
        return 4, f"The response addresses {share:.0%} of what the query asks about."
    return 5, "The response addresses the whole query and adds supporting detail."


def judge_answer(blocks: dict[str, str]) -> str:
    """The judge's reply, as the judge prompts ask for it: one JSON object with reason and score."""
    if "CONTEXT" in blocks:
        score, reason = groundedness_rating(blocks["QUERY"], blocks["CONTEXT"], blocks["RESPONSE"])
    else:
        score, reason = relevance_rating(blocks["QUERY"], blocks["RESPONSE"])
    return json.dumps({"reason": f"Let's think step by step: {reason}", "score": score})

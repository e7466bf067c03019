"""Extractive answers: the simulator answers from the sources in the prompt, so a demo shows real RAG.

The chain gives the model its sources as lines `[source-id]: text` (in the system or user message, after the
question). A source runs until the next source line or the end of its message. The answer is the source
sentences that share most keywords with the question, each cited as `[source-id]`. A system message that
mentions "search query" marks the chain's query-rewrite step; it gets the question's keywords back.
"""

import functools
import re
from dataclasses import dataclass

from chatfleet.chat.simulator.tokens import content_text
from chatfleet.contracts.citations import SOURCE_LINE

NO_SOURCES_ANSWER = "I don't have information about that in the provided sources."
NOT_FOUND_ANSWER = "The provided sources don't contain information about that."
MAX_ANSWER_SENTENCES = 3

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}|\n(?=[-*#\d])")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_REWRITE_INSTRUCTION = re.compile(r"[^:\n]*\bsearch query\b[^:\n]*:\s*", re.IGNORECASE)
_SOURCES_LABEL = re.compile(r"\bsources?\s*:\s*$", re.IGNORECASE)
# The answer prompt (answer@2) fences its sources with these lines; they are framing, not source text.
_SOURCES_FENCE = re.compile(r"^[ \t]*(?:BEGIN|END) SOURCES\b[^\n]*(?:\n|$)", re.MULTILINE)
# fmt: off
_STOPWORDS = frozenset({
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
    "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has",
    "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is",
    "it", "its", "itself", "just", "let", "me", "more", "most", "my", "no", "nor", "not", "now", "of",
    "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would",
    "you", "your", "yours", "tell", "please", "explain", "describe", "give", "show", "find", "know",
    "want", "need", "get", "ask", "question", "answer", "hi", "hello", "hey", "thanks", "thank", "ok", "okay",
    "bye", "yes", "yeah", "cool", "great", "good", "morning"
})
# fmt: on


@dataclass(frozen=True)
class Source:
    source_id: str
    text: str


def keywords(text: str) -> list[str]:
    """Lower-cased content words in order of first appearance, without stopwords or duplicates."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in _STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Crude plural/verb-form folding so 'replicas' matches 'replica' and 'scaling' matches 'scale'."""
    for suffix in ("ies", "ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def split_sources(text: str) -> tuple[str, list[Source]]:
    """(text before the first source line, the sources in order)."""
    text = _SOURCES_FENCE.sub("", text)
    matches = list(SOURCE_LINE.finditer(text))
    if not matches:
        return text, []
    sources = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        if body:
            sources.append(Source(match.group(1), body))
    return text[: matches[0].start()], sources


def is_rewrite_request(messages: list[dict[str, object]]) -> bool:
    return any(
        message.get("role") in ("system", "developer")
        and "search query" in content_text(message.get("content")).lower()
        for message in messages
    )


def last_question(messages: list[dict[str, object]]) -> str:
    """The last user message without its attached sources (and a trailing 'Sources:' label)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            question, _ = split_sources(content_text(message.get("content")))
            return _SOURCES_LABEL.sub("", question.strip()).strip()
    return ""


def collect_sources(messages: list[dict[str, object]]) -> list[Source]:
    """Sources from system/developer messages and the last user message (earlier turns are history)."""
    found: list[Source] = []
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    for index, message in enumerate(messages):
        if message.get("role") in ("system", "developer") or index == last_user:
            found.extend(split_sources(content_text(message.get("content")))[1])
    return found


def rewrite_query(messages: list[dict[str, object]]) -> str:
    """A short keyword query, as a rewrite model would produce for the search index. A user message that is
    itself an instruction ("Write the search query for this question: ...") contributes only its question."""
    question = last_question(messages)
    instruction = _REWRITE_INSTRUCTION.match(question)
    if instruction:
        question = question[instruction.end() :]
    words = keywords(question)
    return " ".join(words[:12]) if words else "0"


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and len(s.strip()) > 2]


def extractive_answer(messages: list[dict[str, object]]) -> str:
    """The best-matching source sentences with citations, or a plain 'no information' answer."""
    sources = collect_sources(messages)
    if not sources:
        return NO_SOURCES_ANSWER
    wanted = {_stem(word) for word in keywords(last_question(messages))}
    scored: list[tuple[float, int, str, str]] = []
    order = 0
    for source in sources:
        for sentence in _sentences(source.text):
            have = {_stem(word) for word in keywords(sentence)}
            overlap = len(wanted & have)
            if overlap:
                # Prefer dense matches; the order term keeps ties in reading order (stable output).
                scored.append((overlap + overlap / (len(have) + 1), -order, sentence, source.source_id))
            order += 1
    if not scored:
        return NOT_FOUND_ANSWER
    best = sorted(scored, reverse=True)[:MAX_ANSWER_SENTENCES]
    best.sort(key=lambda item: -item[1])
    parts = []
    for _, _, sentence, source_id in best:
        sentence = sentence.rstrip()
        if sentence[-1] not in ".!?":
            sentence += "."
        parts.append(f"{sentence[:-1]} [{source_id}]{sentence[-1]}")
    return " ".join(parts)


def answer_for(messages: list[dict[str, object]]) -> str:
    return rewrite_query(messages) if is_rewrite_request(messages) else extractive_answer(messages)


@functools.lru_cache(maxsize=2048)
def cached_answer(conversation: tuple[tuple[str, str], ...]) -> str:
    """answer_for keyed by (role, text) pairs: load tests repeat prompts, and a burst of hundreds of
    identical requests should not redo the extraction each time."""
    return answer_for([{"role": role, "content": text} for role, text in conversation])

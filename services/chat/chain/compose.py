"""Composition of a prepared turn from the sources kept: citations, thoughts, and the answer prompt (or the
no-sources answer). Run again when the screen withholds a source after a first composition."""

from __future__ import annotations

import re

from chatfleet.chat.chain.turn import PreparedTurn
from chatfleet.chat.prompts.library import PromptLibrary
from chatfleet.chat.protocol import Citation, Thought
from chatfleet.chat.retrieval import Hit
from chatfleet.contracts.citations import source_line

QUESTION_ECHO_CHARS = 200
_WHITESPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """A source is one `[id]: text` line so no document text can start a fake source line."""
    return _WHITESPACE.sub(" ", text).strip()


def no_sources_answer(prompts: PromptLibrary, question: str) -> str:
    """The fixed answer when no source can ground one (nothing retrieved, or an uncited answer replaced)."""
    return prompts.get("no_sources").render_text(question=one_line(question)[:QUESTION_ECHO_CHARS])


def compose(
    turn: PreparedTurn,
    prompts: PromptLibrary,
    history: list[dict[str, str]],
    steps: list[Thought],
    kept: list[Hit],
    rejected: list[Hit],
) -> None:
    """Citations, thoughts and the answer prompt (or the no-sources answer) from the kept sources."""
    question = turn.question
    turn.revision += 1
    turn.citations = [
        Citation(id=h.id, source=h.source, title=h.title, content=h.content, score=round(h.score, 6))
        for h in kept
    ]
    turn.sources = [(h.source, h.chunk) for h in kept]
    thoughts = turn.thoughts = list(steps)
    turn.withheld = [h.id for h in rejected]
    if rejected:
        thoughts.append(
            Thought(
                title="Sources withheld by the injection screen",
                description=[h.id for h in rejected],
            )
        )
    if not turn.citations:
        prompt = prompts.get("no_sources")
        turn.prompt_messages = None
        turn.fixed_answer = no_sources_answer(prompts, question)
        thoughts.append(
            Thought(title="No relevant sources: answered without the model", props={"prompt": prompt.ref})
        )
        return
    prompt = prompts.get("answer")
    sources = "\n".join(source_line(c.id, one_line(c.content)) for c in turn.citations)
    # answer@2 fences the sources with a marker drawn afresh for each render: a document cannot contain the
    # line that closes its own fence.
    rendered = prompt.render_chat(question=question, sources=sources)
    turn.prompt_messages = [
        {"role": "system", "content": rendered.system},
        *history,
        {"role": "user", "content": rendered.user},
    ]
    options = turn.options
    thoughts.append(
        Thought(
            title="Prompt to generate answer",
            # The system prompt is the app's and never leaves the server, CHATFLEET_LOG_CONTENT or not.
            description=[m for m in turn.prompt_messages if m["role"] != "system"]
            if options.log_content
            else None,
            props={
                "prompt": prompt.ref,
                "temperature": options.temperature,
                "max_tokens": options.max_tokens,
                "seed": options.seed,
                "prompt_versions": prompts.versions(),
            },
        )
    )

"""Citation check on a token stream: every `[id]` the model writes must name a retrieved source.

Unknown ids are dropped from the text (and reported), so a hallucinated citation never reaches the user.
Streaming stays unbuffered: only text from an opening `[` up to its `]` is held back, a few characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chatfleet.contracts.citations import MAX_ID_CHARS

MAX_CITATION_CHARS = MAX_ID_CHARS + 2  # the longest `[id]` we wait for before treating it as plain text


@dataclass
class CitationFilter:
    """Feed model text in, get checked text out; `cited` and `dropped` collect the ids seen."""

    allowed: frozenset[str]
    cited: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    _held: str = ""

    def feed(self, text: str) -> str:
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            if not self._held:
                start = text.find("[", i)
                if start < 0:
                    out.append(text[i:])
                    break
                out.append(text[i:start])
                self._held = "["
                i = start + 1
                continue
            char = text[i]
            i += 1
            self._held += char
            if char == "]":
                out.append(self._resolve(self._held))
                self._held = ""
            elif char in "[\n" or len(self._held) > MAX_CITATION_CHARS:
                # Not a citation after all: release all but a new opening bracket.
                if char == "[":
                    out.append(self._held[:-1])
                    self._held = "["
                else:
                    out.append(self._held)
                    self._held = ""
        return "".join(out)

    def flush(self) -> str:
        """End of stream: an unclosed bracket is plain text."""
        rest, self._held = self._held, ""
        return rest

    def _resolve(self, token: str) -> str:
        inner = token[1:-1].strip()
        if not inner or (" " in inner and inner not in self.allowed):
            return token  # "[ ]" or prose in brackets, not a citation
        if inner in self.allowed:
            if inner not in self.cited:
                self.cited.append(inner)
            return token
        if inner not in self.dropped:
            self.dropped.append(inner)
        return ""

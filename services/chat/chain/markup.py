"""Markup and links in answers: what a document (through the model) may put in front of the user's renderer.

Retrieved documents are untrusted, and the model repeats them: a `<script>` tag, a tracking image or a link to
an attacker's host in a source can reach an API client that renders Markdown with HTML. The policy
(docs/security.md, "Output handling"), applied to every answer, streamed or not:

* never raw HTML: tags, comments and declarations are removed (their text content stays as plain text);
  character references are decoded first (to a fixed point), so `&lt;script&gt;` or `&#58;` cannot smuggle
  markup or a scheme past the checks and be decoded by the renderer later;
* links only to allow-listed hosts (`CHATFLEET_OUTPUT_LINK_HOSTS`, exact or `*.domain`; default none):
  any other absolute URL (`https://`, protocol-relative `//`, `www.`), and any link destination with another
  scheme (`javascript:`, `data:`, ...), becomes `(link removed)`; relative links (the app's own pages) stay;
* Markdown reference definitions (`[x]: url`) are broken up, so a destination cannot hide in one.

Streaming: text is released word by word. A word that could still become markup, an entity or a link
(it holds one of `<&[]():/.` or could be the start of `www.`) is held until the whitespace after it,
and an open tag until its `>` (at most `MAX_HELD_CHARS`, then it is released neutralised), so a tag or
URL split across chunks is judged whole.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LINK_REMOVED = "(link removed)"
MAX_HELD_CHARS = 2048
_TAG_START = "A-Za-z/!?"
_TRIGGERS = frozenset("<&[]():/.\\")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]*:[^<>\s]*)>")
_TAG = re.compile(rf"<[{_TAG_START}][^<>]*>")
_LONE_TAG_OPEN = re.compile(rf"<(?=[{_TAG_START}])")
_OPEN_TAG = re.compile(rf"<[{_TAG_START}][^>]*$")
_URL = re.compile(
    r"(?i)(?:\b[a-z][a-z0-9+.\-]*:)?//[^\s<>\"'()\[\]]+"
    r"|\bwww\.[^\s<>\"'()\[\]]+"
    r"|\b(?:javascript|vbscript|data|file|blob):[^\s<>\"')\]]*"
)
_LINK_DESTINATION = re.compile(r"\]\(\s*([^\s)]+)")
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):")
_REFERENCE_DEFINITION = re.compile(r"\]:")


@dataclass(frozen=True)
class LinkPolicy:
    """Which absolute links may stay: hosts listed exactly, or below a `*.` entry (entries checked by
    `Settings.output_link_hosts`)."""

    hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, hosts: Iterable[str]) -> LinkPolicy:
        return cls(frozenset(h.lower() for h in hosts))

    def allows(self, url: str) -> bool:
        if "\\" in url or any(ord(c) < 0x20 for c in url):
            return False  # browsers read `\` as `/` and drop tabs: what urlsplit sees is not what they open
        target = url if "://" in url or not url.startswith("//") else "https:" + url
        if target.lower().startswith("www."):
            target = "https://" + target
        try:
            parts = urlsplit(target)
            host = parts.hostname
        except ValueError:
            return False
        if parts.scheme.lower() not in ("http", "https") or not host:
            return False
        return host in self.hosts or any(
            entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.hosts
        )


def _decoded(text: str) -> str:
    """Character references decoded until nothing changes (double encoding decodes fully too)."""
    while "&" in text:
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


@dataclass
class MarkupFilter:
    """Feed answer text in, get neutralised text out; `tags` and `links` count what was removed."""

    links_policy: LinkPolicy = field(default_factory=LinkPolicy)
    tags: int = 0
    links: int = 0
    _held: str = ""
    _last: str = ""

    def feed(self, text: str) -> str:
        if not self._held and self._last != "<" and _TRIGGERS.isdisjoint(text):
            # The common token: nothing in it can be markup or a link (`www.` needs its dot), so it passes
            # unchanged, but a last word that may be the start of `www.` waits for what follows.
            start = len(text.rstrip("wW"))
            if start < len(text) and (start == 0 or text[start - 1].isspace()) and len(text) - start <= 3:
                text, self._held = text[:start], text[start:]
            if text:
                self._last = text[-1]
            return text
        buffer = self._held + text
        cut = self._safe_end(buffer)
        self._held = buffer[cut:]
        if len(self._held) > MAX_HELD_CHARS:
            cut, self._held = len(buffer), ""
        return self._emit(buffer[:cut])

    def flush(self) -> str:
        """End of stream: whatever is held is complete now."""
        rest, self._held = self._held, ""
        return self._emit(rest)

    def _safe_end(self, buffer: str) -> int:
        """Where the released part ends: after the last whitespace outside a tag (a closed one or the open
        one at the end), or the whole buffer when its last word cannot turn into markup or a link."""
        open_tag = _OPEN_TAG.search(buffer) if "<" in buffer else None
        limit = open_tag.start() if open_tag else len(buffer)
        tags = (
            [(m.start(), m.end()) for m in _TAG.finditer(buffer, 0, limit)]
            if open_tag or "<" in buffer
            else []
        )
        end = limit
        while end > 0 and not (
            buffer[end - 1].isspace() and not any(start < end - 1 < stop for start, stop in tags)
        ):
            end -= 1
        tail = buffer[end:limit]
        if open_tag is None and _TRIGGERS.isdisjoint(tail) and not "www".startswith(tail.lower() or "-"):
            return len(buffer)
        return end

    def _emit(self, text: str) -> str:
        if not text:
            return ""
        out = self.neutralise(text)
        if self._last == "<" and out[:1] and re.match(rf"[{_TAG_START}]", out[0]):
            out = " " + out  # a `<` released earlier must not open a tag with what follows
        if out:
            self._last = out[-1]
        return out

    def neutralise(self, text: str) -> str:
        """One complete piece of answer text, neutralised (also used for whole texts such as a footer).
        Each pass runs only when its pattern's first character is present (the filter runs per token)."""
        if "&" in text:
            text = _decoded(text)
        if "<" in text:
            text, comments = _COMMENT.subn("", text)
            text = _AUTOLINK.sub(self._autolink, text)
            text, tags = _TAG.subn("", text)
            text = _LONE_TAG_OPEN.sub("< ", text)
            self.tags += comments + tags
        if "/" in text or ":" in text or "." in text:
            text = _URL.sub(self._url, text)
        if "](" in text:
            text = _LINK_DESTINATION.sub(self._destination, text)
        if "]:" in text:
            text = _REFERENCE_DEFINITION.sub("] :", text)
        return text

    def _autolink(self, match: re.Match[str]) -> str:
        """`<url>`: an allowed one stays as the bare URL (renderers link it), so the tag pass keeps it."""
        if self.links_policy.allows(match.group(1)):
            return match.group(1)
        self.links += 1
        return LINK_REMOVED

    def _url(self, match: re.Match[str]) -> str:
        if self.links_policy.allows(match.group(0)):
            return match.group(0)
        self.links += 1
        return LINK_REMOVED

    def _destination(self, match: re.Match[str]) -> str:
        """A Markdown link or image destination with a scheme other than an allowed http(s) URL."""
        destination = match.group(1)
        scheme = _SCHEME.match(destination)
        if scheme is None or self.links_policy.allows(destination):
            return match.group(0)
        self.links += 1
        return "](" + LINK_REMOVED

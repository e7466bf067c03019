"""How the local detector folds the usual obfuscations before its rules look at a text.

NFKC folds fullwidth/circled letters, zero-width and tag characters are removed, letter-spacing is undone,
leetspeak gets a second reading, and short base64/hex/rot13 payloads are decoded to be screened too.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

import re2

# Zero-width characters and the invisible Unicode "tag" characters (U+E0000-U+E007F), deleted in one C-speed
# `str.translate` (a per-character Python filter cost ~2 ms per 8,000 characters).
_INVISIBLE = dict.fromkeys([0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x180E, *range(0xE0000, 0xE0080)])
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_WORD = re.compile(r"[a-z][013457@$]|[013457@$][a-z]")  # digits/symbols inside words: leetspeak
_SPACED = re.compile(r"\b(?:\w\s){3,}\w\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){12,}\b")
_ROT13 = re.compile(r"\brot-?13\b", re.IGNORECASE)

# Python's `re` tries each pattern at every position of the text (~0.1 us each, 0.3-0.9 ms per pattern per
# 8,000 characters), so each pattern above is behind an RE2 search for something every match contains: one
# linear automaton pass, a few microseconds, and the Python pattern runs only on texts that can match.
# Python's whitespace (`\s`, str.isspace), spelled out for RE2, whose `\s` is ASCII; none lies above U+3000.
_SPACE = "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace())
_MAYBE_SPACED = re2.compile(f"[^{_SPACE}][{_SPACE}][^{_SPACE}][{_SPACE}][^{_SPACE}][{_SPACE}][^{_SPACE}]")
_MAYBE_ENCODED = re2.compile(r"[A-Za-z0-9+/]{24}")  # in every base64 and every hex match
_MAYBE_ROT13 = re2.compile(r"(?i)rot-?13")
_MAYBE_INVISIBLE = re2.compile("[" + "".join(f"\\x{{{c:x}}}" for c in _INVISIBLE) + "]")
_LEET_WORD_RE2 = re2.compile(_LEET_WORD.pattern)  # ASCII classes only: the same matches in both engines


def normalise(text: str) -> str:
    """Folds the usual obfuscations so the patterns see plain words."""
    text = unicodedata.normalize("NFKC", text)
    if _MAYBE_INVISIBLE.search(text):  # str.translate looks up every character (0.6 ms per 8,000 CJK ones)
        text = text.translate(_INVISIBLE)
    if _MAYBE_SPACED.search(text):
        text = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), text)
    if "\t" in text or "  " in text:  # otherwise the substitution below changes nothing
        text = re.sub(r"[ \t]+", " ", text)
    return text


def decoded_payloads(text: str) -> list[str]:
    """Printable text hidden as base64, hex or rot13; screened like the original."""
    found: list[str] = []
    encoded = _MAYBE_ENCODED.search(text) is not None
    for match in _BASE64.findall(text) if encoded else ():
        try:
            decoded = base64.b64decode(match + "=" * (-len(match) % 4), validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if decoded.isprintable():
            found.append(decoded)
    for match in _HEX.findall(text) if encoded else ():
        try:
            decoded = bytes.fromhex(match).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        if decoded.isprintable():
            found.append(decoded)
    if _MAYBE_ROT13.search(text) and _ROT13.search(text):
        found.append(codecs.decode(text, "rot13"))
    return found


def leet_variant(lowered: str) -> str | None:
    """The text read with digits and symbols as letters, when leetspeak appears inside its words."""
    if _LEET_WORD_RE2.search(lowered):
        return lowered.translate(_LEET)
    return None

"""Adversarial questions at the 8,000-character message limit, the screen's worst cases (newline runs, long
repeats, nested brackets, long single words, random words, scripts of several bytes a character): one set
for the security tier's cost test and bench/screen_cost_bench.py, so both measure the same texts."""

from __future__ import annotations

import random
import string

LIMIT = 8_000  # the service's default max_message_chars
_R = random.Random(15)


def _words(alphabet: str, shortest: int, longest: int) -> str:
    words = ("".join(_R.choices(alphabet, k=_R.randint(shortest, longest))) for _ in range(LIMIT))
    return " ".join(words)[:LIMIT]


ADVERSARIAL: dict[str, str] = {
    "question + newlines": "What is the refund policy for damaged items?".ljust(LIMIT, "\n"),
    "newlines only": "\n" * LIMIT,
    '"\\t\\n" x 4,000': "\t\n" * (LIMIT // 2),
    '"a\\n" x 4,000': "a\n" * (LIMIT // 2),
    '"a " x 4,000': "a " * (LIMIT // 2),
    '"[" x 4,000 + "]" x 4,000': "[" * (LIMIT // 2) + "]" * (LIMIT // 2),
    '"([{<" x 2,000 (nested brackets)': "([{<" * (LIMIT // 4),
    '"ignore " repeated': ("ignore " * LIMIT)[:LIMIT],
    '"system: " lines': ("\nsystem: " * LIMIT)[:LIMIT],
    '"x" x 8,000': "x" * LIMIT,
    "prose (lorem ipsum)": ("lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 200)[:LIMIT],
    "random words (every word new)": _words(string.ascii_lowercase, 2, 9),
    "random letters and digits, no space": "".join(
        _R.choices(string.ascii_lowercase + string.digits, k=LIMIT)
    ),
    "random symbols": "".join(_R.choices(string.punctuation + " \n", k=LIMIT)),
    "random CJK, no space (3 bytes a character)": "".join(
        chr(_R.randrange(0x4E00, 0xA000)) for _ in range(LIMIT)
    ),
    "random CJK words": _words("".join(chr(c) for c in range(0x4E00, 0x4F00)), 1, 5),
    "random accented words": _words("àéîõüçñßabcdexyz", 2, 9),
    "random emoji words (4 bytes a character)": _words("😀🔥💥a", 2, 7),
    "base64-like blob": "".join(_R.choices(string.ascii_letters + string.digits + "+/", k=LIMIT)),
    "letters spaced out": " ".join("ignoreprevious" * LIMIT)[:LIMIT],
}

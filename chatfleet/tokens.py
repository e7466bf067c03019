"""The simulator's tokenizer: words and punctuation, each carrying its leading whitespace.

Not BPE, but consistent: streamed pieces concatenate back to the answer, and usage numbers, TPM
accounting and `x-ratelimit-remaining-tokens` all count with the same rule. It lives in the root package
because the load test counts streamed tokens with the same rule and speaks to the service over HTTP only.
"""

import re

_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])", re.UNICODE)
_TRAILING_SPACE = re.compile(r"\s+$")
MESSAGE_OVERHEAD_TOKENS = 3


def split_tokens(text: str) -> list[str]:
    """Pieces whose concatenation is `text` minus trailing whitespace; one piece is one token."""
    return _PIECE.findall(_TRAILING_SPACE.sub("", text))


def count_tokens(text: str) -> int:
    return len(_PIECE.findall(text))


def count_message_tokens(messages: list[dict[str, object]]) -> int:
    """Prompt tokens of a chat request: content tokens plus a fixed per-message overhead, like OpenAI's."""
    total = 0
    for message in messages:
        content = message.get("content")
        total += MESSAGE_OVERHEAD_TOKENS + count_tokens(content_text(content))
    return total


def content_text(content: object) -> str:
    """Message content as text; the array form (`[{"type": "text", "text": ...}]`) is flattened."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "\n".join(part for part in parts if isinstance(part, str))
    return ""

"""The simulator's token counts of chat requests, on the piece rule of `chatfleet.contracts.tokens`.

Streamed pieces concatenate back to the answer, and usage numbers, TPM accounting and
`x-ratelimit-remaining-tokens` all count with that same rule (which the load test shares).
"""

from chatfleet.contracts.tokens import count_tokens

MESSAGE_OVERHEAD_TOKENS = 3


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

"""How chatfleet counts tokens where no model tokenizer is at hand; two rules, each for its own job.

- `estimate_text_tokens`: 4 characters a token, the usual estimate for English with GPT-style BPE. The chat
  service charges budgets and TPM quota with it before the model reports usage (`estimate_message_tokens`
  for a chat call's messages), and ingestion sizes chunks with it.
- `count_tokens` / `split_tokens`: word and punctuation pieces, each carrying its leading whitespace. Not
  BPE, but consistent: the simulator streams and bills with it, and the load test counts streamed text
  with it, so tokens/s measured against the simulator are the simulator's own tokens (against real GPT
  models it undercounts by roughly a quarter, the safe side of a minimum tokens/s SLO).
"""

import re
from collections.abc import Iterable, Mapping

CHARS_PER_TOKEN = 4
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])", re.UNICODE)
_TRAILING_SPACE = re.compile(r"\s+$")


def estimate_text_tokens(*texts: str) -> int:
    """Tokens the texts are likely to cost, before a model has counted them."""
    return sum(len(text) for text in texts) // CHARS_PER_TOKEN


def estimate_message_tokens(messages: Iterable[Mapping[str, object]], max_tokens: int = 0) -> int:
    """What a chat call will be charged against TPM at admission: its messages' text plus `max_tokens`."""
    return estimate_text_tokens(*(str(message.get("content") or "") for message in messages)) + max_tokens


def split_tokens(text: str) -> list[str]:
    """Pieces whose concatenation is `text` minus trailing whitespace; one piece is one token."""
    return _PIECE.findall(_TRAILING_SPACE.sub("", text))


def count_tokens(text: str) -> int:
    return len(_PIECE.findall(text))

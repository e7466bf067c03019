"""Chooses an embedder by name (settings: CHATFLEET_EMBEDDER); one instance per process."""

from enum import StrEnum
from functools import cache

from chatfleet.chat.embeddings.base import Embedder


class EmbedderName(StrEnum):
    """The embedders by name, a typed choice for the CLI's --embedder."""

    MINILM = "minilm"
    WORDLLAMA = "wordllama"


EMBEDDER_NAMES: tuple[str, ...] = tuple(e.value for e in EmbedderName)


@cache
def load_embedder(name: str = "minilm") -> Embedder:
    """Weights are loaded once (tens of MB); both models are thread-safe for concurrent `embed` calls."""
    if name == "minilm":
        from chatfleet.chat.embeddings.minilm import MiniLMEmbedder

        return MiniLMEmbedder()
    if name == "wordllama":
        from chatfleet.chat.embeddings.wordllama_embedder import WordLlamaEmbedder

        return WordLlamaEmbedder()
    raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDER_NAMES)}")

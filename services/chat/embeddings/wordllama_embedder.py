"""WordLlama (256-dim, 16 MB) loaded only from the weights inside the installed `wordllama` package."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chatfleet.chat.embeddings.base import EmbedderUnavailable, l2_normalise


class WordLlamaEmbedder:
    """Average-pooled token embeddings: ~100x faster than a transformer, weaker on paraphrases."""

    name = "wordllama"
    dim = 256

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        package_dir = Path(wordllama.__file__).parent
        try:
            self._model = WordLlama.load(dim=self.dim, cache_dir=package_dir, disable_download=True)
        except FileNotFoundError as exc:
            raise EmbedderUnavailable(f"WordLlama weights missing under {package_dir}") from exc

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.asarray(self._model.embed(list(texts), norm=False), dtype=np.float32)
        return l2_normalise(vectors.reshape(len(texts), self.dim))

"""The embedder contract shared by the local index, ingestion and the benchmark."""

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


class EmbedderUnavailable(RuntimeError):
    """The model's weights are not installed; raised instead of trying to download them."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension (cosine = dot product)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Returns an array of shape (len(texts), dim), dtype float32, each row unit length."""
        ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit-length rows so that the index can rank by dot product; zero rows stay zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

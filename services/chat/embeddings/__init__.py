"""Offline text embeddings for the local index: a small protocol plus two bundled models.

The local index needs vectors without any network access, so every embedder here loads weights that ship
inside an installed Python package and refuses to download anything at run time.
"""

from chatfleet.chat.embeddings.base import Embedder, EmbedderUnavailable
from chatfleet.chat.embeddings.factory import EMBEDDER_NAMES, load_embedder

__all__ = ["EMBEDDER_NAMES", "Embedder", "EmbedderUnavailable", "load_embedder"]

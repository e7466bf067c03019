"""Deterministic embeddings by feature hashing: the same text always gives the same unit vector, and texts
that share words get a high cosine similarity, so vector search against the simulator still ranks sensibly.
"""

import hashlib
import itertools
import math
import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, 1.0 if (value >> 63) else -1.0


def embed(text: str, dimensions: int) -> list[float]:
    """Unit-length vector of hashed words and word bigrams; an empty text maps to a fixed unit vector."""
    vector = [0.0] * dimensions
    words = _WORD.findall(text.lower())
    features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    if not features:
        features = ["<empty>"]
    for feature in features:
        index, sign = _bucket(feature, dimensions)
        vector[index] += sign
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]

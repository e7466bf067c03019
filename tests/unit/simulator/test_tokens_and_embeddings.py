"""Token pieces rebuild the text and are counted consistently; embeddings are deterministic and meaningful."""

import math

from chatfleet.chat.simulator.embeddings import embed
from chatfleet.chat.simulator.tokens import MESSAGE_OVERHEAD_TOKENS, count_message_tokens
from chatfleet.contracts.tokens import count_tokens, split_tokens


def test_pieces_concatenate_back_to_the_text() -> None:
    text = "Refunds take 14 days [handbook.md#2]. Ask, then wait!"
    pieces = split_tokens(text)
    assert "".join(pieces) == text
    assert len(pieces) == count_tokens(text)


def test_message_tokens_include_overhead() -> None:
    messages = [{"role": "system", "content": "two words"}, {"role": "user", "content": "three more words"}]
    assert count_message_tokens(messages) == 5 + 2 * MESSAGE_OVERHEAD_TOKENS


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_deterministic_unit_vectors() -> None:
    first, second = embed("refund policy for enterprise", 256), embed("refund policy for enterprise", 256)
    assert first == second
    assert math.isclose(sum(v * v for v in first), 1.0, rel_tol=1e-9)
    assert len(embed("", 64)) == 64


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    query = embed("how long do refunds take", 512)
    related = embed("refunds take 14 days after cancellation", 512)
    unrelated = embed("the cluster autoscaler adds nodes", 512)
    assert _cosine(query, related) > _cosine(query, unrelated) + 0.2

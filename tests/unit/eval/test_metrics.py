"""The eval metrics on hand-made cases whose scores are known, computed by hand from docs/evaluation.md."""

import pytest

from chatfleet.chat.embeddings import load_embedder
from chatfleet.eval.cases import EvalCase
from chatfleet.eval.client import RetrievedSource, Turn
from chatfleet.eval.metrics import (
    Groundedness,
    case_metrics,
    citation_coverage,
    citation_validity,
    correctness,
    is_refusal,
    recall_at_k,
    reciprocal_rank,
    refusal_accuracy,
)

HOTEL = (
    "The hotel limit is 250 USD per night in most cities and 350 USD per night in New York, London, "
    "Zurich and Tokyo."
)
MEALS = "The daily meal allowance is 75 USD while travelling."
RETRIEVED = [
    RetrievedSource("vpn-setup.md#0", "vpn-setup.md", "Contoso employees connect through the VPN."),
    RetrievedSource("expense-policy.md#1", "expense-policy.md", HOTEL),
    RetrievedSource("expense-policy.md#2", "expense-policy.md", MEALS),
    RetrievedSource("wifi-guest.md#1", "wifi-guest.md", "Guest Wi-Fi is limited to 20 Mbit/s."),
]


def case(**fields: object) -> EvalCase:
    values: dict[str, object] = {
        "id": "c",
        "question": "What is the hotel limit in London?",
        "tenant": "contoso",
        "expected_sources": ["expense-policy.md"],
    }
    values.update(fields)
    return EvalCase.model_validate(values)


@pytest.fixture(scope="module")
def groundedness() -> Groundedness:
    return Groundedness(load_embedder("wordllama"))


def test_recall_counts_documents_not_chunks() -> None:
    two = case(expected_sources=["expense-policy.md", "travel-portal.md"])
    assert recall_at_k(two, RETRIEVED) == 0.5
    assert recall_at_k(case(), RETRIEVED) == 1.0
    assert recall_at_k(case(), RETRIEVED[:1]) == 0.0
    assert recall_at_k(case(answerable=False, expected_sources=[]), RETRIEVED) is None


def test_mrr_is_the_reciprocal_rank_of_the_first_expected_source() -> None:
    assert reciprocal_rank(case(), RETRIEVED) == 0.5
    assert reciprocal_rank(case(expected_sources=["wifi-guest.md"]), RETRIEVED) == 0.25
    assert reciprocal_rank(case(expected_sources=["Docs/VPN-Setup.md"]), RETRIEVED) == 1.0
    assert reciprocal_rank(case(expected_sources=["parental-leave.md"]), RETRIEVED) == 0.0


def test_citation_validity_needs_every_cited_id_retrieved() -> None:
    assert citation_validity("Limit 350 USD [expense-policy.md#1].", RETRIEVED) == 1.0
    assert citation_validity("A [expense-policy.md#1]. B [expense-policy.md#9].", RETRIEVED) == 0.0
    assert citation_validity("No citation at all.", RETRIEVED) is None


def test_citation_coverage_needs_an_expected_document_cited() -> None:
    assert citation_coverage(case(), "Limit [expense-policy.md#2].") == 1.0
    assert citation_coverage(case(), "Wi-Fi [wifi-guest.md#1].") == 0.0


def test_refusal_is_an_uncited_no_answer_reply() -> None:
    assert is_refusal("The provided sources don't contain information about that.")
    assert is_refusal('I couldn\u2019t find anything about "x" in your organization\'s documentation.')
    assert is_refusal("I don't know.")
    assert is_refusal("")
    assert not is_refusal("The limit is 350 USD [expense-policy.md#1].")
    # a citation makes it an answer, whatever the wording
    assert not is_refusal("I can't find the form, but the limit is 350 USD [expense-policy.md#1].")
    unanswerable = case(answerable=False, expected_sources=[])
    assert refusal_accuracy(unanswerable, "I don't know.") == 1.0
    assert refusal_accuracy(unanswerable, "It is Ulaanbaatar [wifi-guest.md#1].") == 0.0
    assert refusal_accuracy(case(), "I don't know.") == 0.0


def test_correctness_is_the_share_of_reference_words_in_the_answer() -> None:
    graded = case(reference="The hotel limit in London is 350 USD per night.")
    # reference content words: hotel, limit, london, 350, usd, per, night -> 7
    assert correctness(graded, f"{HOTEL} [expense-policy.md#1]") == 1.0
    assert correctness(
        graded, "The hotel limit is 250 USD per night [expense-policy.md#1]."
    ) == pytest.approx(5 / 7)
    assert correctness(graded, "I don't know.") == 0.0
    assert correctness(case(), "anything") is None


def test_copied_sentences_are_grounded(groundedness: Groundedness) -> None:
    answer = f"{HOTEL[:-1]} [expense-policy.md#1]. {MEALS[:-1]} [expense-policy.md#2]."
    assert groundedness.score(answer, RETRIEVED) == 1.0


def test_a_wrong_number_is_not_grounded(groundedness: Groundedness) -> None:
    answer = "The hotel limit in London is 500 USD per night [expense-policy.md#1]."
    assert groundedness.score(answer, RETRIEVED) == 0.0
    assert groundedness.sentence_support("The hotel limit in London is 350 USD per night.", [HOTEL]) > 0.6


def test_uncited_invented_or_miscited_sentences_are_not_grounded(groundedness: Groundedness) -> None:
    answer = (
        f"{MEALS[:-1]} [expense-policy.md#2]. "  # supported
        "Business class is allowed on every flight [expense-policy.md#1]. "  # invented, cited
        f"{HOTEL} "  # true but uncited
        f"{MEALS[:-1]} [wifi-guest.md#1]."  # cites a source that does not say it
    )
    assert groundedness.score(answer, RETRIEVED) == 0.25


def test_a_refusal_has_nothing_to_ground(groundedness: Groundedness) -> None:
    assert groundedness.score("I don't know.", RETRIEVED) is None


def test_a_failed_turn_scores_zero_where_a_metric_applies(groundedness: Groundedness) -> None:
    scores = case_metrics(case(reference="350 USD"), Turn(error="HTTP 503"), groundedness)
    assert scores["recall_at_k"] == scores["correctness"] == scores["refusal_accuracy"] == 0.0
    assert scores["groundedness"] is None

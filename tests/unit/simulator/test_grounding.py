"""Extractive answers: cite the sources given in the prompt, say so when there are none, rewrite queries."""

from chatfleet.chat.simulator.grounding import (
    NO_SOURCES_ANSWER,
    NOT_FOUND_ANSWER,
    answer_for,
    collect_sources,
    keywords,
    last_question,
)

SYSTEM = "You answer only from the sources below. Cite them as [source].\n"
SOURCES = (
    "Sources:\n"
    "[handbook.md#2]: Refunds are issued within 14 days of a cancellation. Enterprise customers get a "
    "dedicated account manager.\n"
    "[pricing.md#0]: The Pro plan costs 20 dollars per month.\n"
    "Annual billing saves two months.\n"
    "[security.md#5]: All data is encrypted at rest with AES-256."
)


def test_answer_cites_the_matching_source() -> None:
    messages = [
        {"role": "system", "content": SYSTEM + SOURCES},
        {"role": "user", "content": "How many days until refunds are issued?"},
    ]
    answer = answer_for(messages)
    assert "Refunds are issued within 14 days" in answer
    assert "[handbook.md#2]" in answer
    assert "[security.md#5]" not in answer


def test_multiline_source_and_sources_in_user_message() -> None:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What does annual billing save?\n\n" + SOURCES},
    ]
    assert last_question(messages) == "What does annual billing save?"
    assert [s.source_id for s in collect_sources(messages)] == [
        "handbook.md#2",
        "pricing.md#0",
        "security.md#5",
    ]
    assert answer_for(messages) == "Annual billing saves two months [pricing.md#0]."


def test_sources_of_earlier_turns_are_history_not_grounding() -> None:
    messages = [
        {"role": "user", "content": "old question\n[old.md#1]: Refunds take forever."},
        {"role": "assistant", "content": "Refunds take forever [old.md#1]."},
        {"role": "user", "content": "And refunds now?"},
    ]
    assert answer_for(messages) == NO_SOURCES_ANSWER


def test_no_sources_means_no_information() -> None:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert answer_for(messages) == NO_SOURCES_ANSWER


def test_unrelated_sources_are_not_used() -> None:
    messages = [
        {"role": "system", "content": SYSTEM + SOURCES},
        {"role": "user", "content": "Who won the cup?"},
    ]
    assert answer_for(messages) == NOT_FOUND_ANSWER


def test_rewrite_request_gets_keywords_of_the_last_question() -> None:
    messages = [
        {
            "role": "system",
            "content": "Generate a search query for the knowledge base from the conversation.",
        },
        {"role": "user", "content": "Tell me about pricing"},
        {"role": "assistant", "content": "The Pro plan costs 20 dollars [pricing.md#0]."},
        {"role": "user", "content": "What is the refund policy for enterprise customers?"},
    ]
    assert answer_for(messages) == "refund policy enterprise customers"


def test_rewrite_instruction_in_the_user_message_is_not_part_of_the_query() -> None:
    messages = [
        {"role": "system", "content": "You turn a support conversation into a search query."},
        {"role": "user", "content": "Write the search query for this question: Why does error E42 appear?"},
    ]
    assert answer_for(messages) == "error e42 appear"


def test_small_talk_rewrites_to_zero() -> None:
    messages = [{"role": "system", "content": "Write a search query."}, {"role": "user", "content": "Hi!"}]
    assert answer_for(messages) == "0"


def test_keywords_drop_stopwords_and_duplicates() -> None:
    assert keywords("What is the HPA and the HPA target?") == ["hpa", "target"]


def test_content_parts_are_read() -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM + SOURCES}]},
        {"role": "user", "content": [{"type": "text", "text": "Is data encrypted at rest?"}]},
    ]
    assert "[security.md#5]" in answer_for(messages)

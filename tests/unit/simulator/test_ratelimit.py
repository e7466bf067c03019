"""Sliding-window TPM/RPM quota with injected time: admission, remaining counts and announced retry time."""

import pytest

from chatfleet.chat.simulator.ratelimit import WINDOW_S, SlidingWindowQuota, retry_after_headers


def test_requests_per_minute_and_retry_time() -> None:
    quota = SlidingWindowQuota(requests_per_minute=2)
    assert quota.admit(0.0, 10).remaining_requests == 1
    assert quota.admit(5.0, 10).remaining_requests == 0
    refused = quota.admit(6.0, 10)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(WINDOW_S - 6.0)
    assert quota.admit(60.5, 10).allowed  # the first charge left the window


def test_tokens_per_minute_counts_prompt_plus_max_tokens() -> None:
    quota = SlidingWindowQuota(tokens_per_minute=1000)
    assert quota.admit(0.0, 600).remaining_tokens == 400
    assert quota.admit(1.0, 300).remaining_tokens == 100
    refused = quota.admit(2.0, 500)
    assert not refused.allowed and refused.remaining_tokens == 100
    assert refused.retry_after_s == pytest.approx(58.0)  # when the 600-token charge expires
    assert quota.peek(2.0) == (100, None)


def test_refused_requests_are_not_charged() -> None:
    quota = SlidingWindowQuota(tokens_per_minute=100)
    quota.admit(0.0, 100)
    for second in range(1, 5):
        assert not quota.admit(float(second), 50).allowed
    assert quota.admit(WINDOW_S + 0.1, 100).allowed


def test_a_request_larger_than_the_quota_never_fits() -> None:
    refused = SlidingWindowQuota(tokens_per_minute=100).admit(0.0, 101)
    assert not refused.allowed and refused.retry_after_s == WINDOW_S


def test_unlimited_quota_admits_everything() -> None:
    quota = SlidingWindowQuota()
    assert all(quota.admit(float(i), 10**6).allowed for i in range(100))


def test_retry_after_headers_round_up_seconds() -> None:
    assert retry_after_headers(1.2) == {"retry-after-ms": "1200", "retry-after": "2"}
    assert retry_after_headers(0.0001) == {"retry-after-ms": "1", "retry-after": "1"}

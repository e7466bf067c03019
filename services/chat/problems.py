"""The service's error kinds, free of any HTTP framework: every layer raises `ProblemError`, and only the api
layer (`chatfleet.chat.api.problems`) turns it into an RFC 9457 `application/problem+json` response.

The `type` URIs are the public contract (see docs/chat-service.md): clients (the UI, the load test, app teams'
code) branch on the type, never on the wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROBLEM_BASE = "https://chatfleet.dev/problems/"


@dataclass(frozen=True)
class ProblemType:
    """A kind of error: its slug is part of the public contract (see docs/chat-service.md)."""

    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


BAD_REQUEST = ProblemType("bad-request", 400, "Bad request")
INPUT_REJECTED = ProblemType("input-rejected", 400, "Input rejected by the safety screen")
CONTENT_FILTERED = ProblemType("content-filtered", 400, "Content filtered")
UNAUTHORIZED = ProblemType("unauthorized", 401, "Authentication required")
FORBIDDEN = ProblemType("forbidden", 403, "Forbidden")
NOT_FOUND = ProblemType("not-found", 404, "Not found")
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", 405, "Method not allowed")
PAYLOAD_TOO_LARGE = ProblemType("payload-too-large", 413, "Request body too large")
INPUT_TOO_LARGE = ProblemType("input-too-large", 413, "Conversation exceeds the input limits")
HEADER_TOO_LARGE = ProblemType("header-too-large", 431, "Request header fields too large")
UNSUPPORTED_MEDIA_TYPE = ProblemType("unsupported-media-type", 415, "Unsupported media type")
VALIDATION = ProblemType("validation-error", 422, "Request validation failed")
RATE_LIMITED = ProblemType("rate-limited", 429, "Tenant token budget exhausted")
USER_RATE_LIMITED = ProblemType("user-rate-limited", 429, "Too many requests from this user")
INTERNAL = ProblemType("internal-error", 500, "Internal error")
UPSTREAM_UNAVAILABLE = ProblemType("upstream-unavailable", 503, "No model deployment available")
UPSTREAM_FAILED = ProblemType("upstream-failed", 502, "The model deployment failed")
NOT_READY = ProblemType("not-ready", 503, "Service not ready")
BUDGET_UNAVAILABLE = ProblemType("budget-unavailable", 503, "Token budget store unavailable")
DRAINING = ProblemType("draining", 503, "Service is shutting down")
DEADLINE_EXCEEDED = ProblemType("deadline-exceeded", 504, "The answer took longer than the deadline")

ALL_PROBLEM_TYPES = (
    BAD_REQUEST,
    INPUT_REJECTED,
    CONTENT_FILTERED,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    PAYLOAD_TOO_LARGE,
    INPUT_TOO_LARGE,
    HEADER_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION,
    RATE_LIMITED,
    USER_RATE_LIMITED,
    INTERNAL,
    UPSTREAM_UNAVAILABLE,
    UPSTREAM_FAILED,
    NOT_READY,
    DRAINING,
    DEADLINE_EXCEEDED,
)


class ProblemError(Exception):
    """Raised anywhere in request handling; the api layer's handler turns it into a problem+json response."""

    def __init__(
        self,
        problem: ProblemType,
        detail: str,
        *,
        retry_after_s: float | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})

"""What the router raises, so the chain can map each case to a distinct user answer (429/503 with
Retry-After, a content-filter message, a well-formed stream error line) without knowing the SDK.
"""

from typing import Literal


class LLMError(Exception):
    """Base of every router failure."""


class NoUpstreamAvailable(LLMError):
    """Every deployment is cooling down, broken or failed this request; retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ContentFiltered(LLMError):
    """Azure's content filter refused the prompt or cut the completion; never retried elsewhere."""

    def __init__(self, source: Literal["prompt", "completion"], categories: list[str]) -> None:
        shown = ", ".join(categories) or "unspecified"
        super().__init__(f"content filter triggered by the {source} (categories: {shown})")
        self.source = source
        self.categories = categories


class UpstreamStreamBroken(LLMError):
    """The upstream failed after tokens already reached the caller, so failing over is no longer possible."""


class DeadlineExceeded(LLMError):
    """The whole-request deadline passed (across all attempts)."""


class UpstreamRejected(LLMError):
    """The upstream refused the request itself (400/401/403/413/422): retrying elsewhere would not help."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code

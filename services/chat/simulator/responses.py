"""Azure OpenAI wire shapes: completion bodies, SSE chunks and error bodies, byte-compatible with what the
`openai` SDK parses (including Azure's extras such as `prompt_filter_results` and `content_filter_results`).

Stream chunks are assembled from a pre-rendered prefix so that hundreds of streams cost little CPU per token.
"""

import json
import time
import uuid
from typing import Any

FILTERED_CATEGORY = "violence"
_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


def filter_results(filtered: bool = False) -> dict[str, Any]:
    """Azure's per-category verdicts; when filtered, the simulated category is violence/medium."""
    results: dict[str, Any] = {name: {"filtered": False, "severity": "safe"} for name in _CATEGORIES}
    if filtered:
        results[FILTERED_CATEGORY] = {"filtered": True, "severity": "medium"}
    return results


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def prompt_filtered_body() -> dict[str, Any]:
    return error_body(
        "content_filter",
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry.",
        param="prompt",
        type=None,
        status=400,
        innererror={"code": "ResponsibleAIPolicyViolation", "content_filter_result": filter_results(True)},
    )


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def completion_body(
    *,
    completion_id: str,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_chatfleet_sim",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filter_results()}],
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "logprobs": None,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "content_filter_results": filter_results(finish_reason == "content_filter"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


class ChunkWriter:
    """Renders the chunks of one stream; content chunks reuse a fixed prefix and suffix."""

    def __init__(self, completion_id: str, model: str) -> None:
        self.completion_id = completion_id
        self.model = model
        self.created = int(time.time())
        head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
        }
        prefix = json.dumps(head, separators=(",", ":"))[:-1]
        self._content_prefix = (
            "data: "
            + prefix
            + ',"system_fingerprint":"fp_chatfleet_sim","choices":[{"index":0,"delta":{"content":'
        ).encode()
        self._content_suffix = b'},"finish_reason":null,"logprobs":null}]}\n\n'

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": "fp_chatfleet_sim",
                "choices": choices,
                **extra,
            }
        )

    def prompt_filter(self) -> bytes:
        """Azure's first chunk: no choices, empty model, only the prompt's filter verdict."""
        return sse(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filter_results()}],
            }
        )

    def role(self) -> bytes:
        delta = {"role": "assistant", "content": "", "refusal": None}
        return self._chunk([{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}])

    def content(self, text: str) -> bytes:
        return self._content_prefix + json.dumps(text).encode() + self._content_suffix

    def finish(self, finish_reason: str) -> bytes:
        choice = {
            "index": 0,
            "delta": {},
            "finish_reason": finish_reason,
            "logprobs": None,
            "content_filter_results": filter_results(finish_reason == "content_filter"),
        }
        return self._chunk([choice])

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return self._chunk([], usage=usage)

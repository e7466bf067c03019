"""One eval turn over HTTP: POST /chat/stream, read as JSON lines, timed like a user would see it.

The stream's first line carries the retrieved sources (`context.data_points.citations`, in rank order), the
content deltas carry the answer (its first one is the time to first token), and the closing line's `Answer`
thought carries the deployment; the `Prompt to generate answer` thought carries the prompt versions.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from chatfleet.contracts.loadtest import TOKEN_ENV, token_env_for
from chatfleet.contracts.tenancy import DEV_TENANT_HEADER

CHAT_PATH = "/chat/stream"
RETRIES = 3  # a 429/503 (throttled or failing over) is retried after its Retry-After, at most this often
MAX_RETRY_WAIT_S = 10.0


class ServiceUnreachable(RuntimeError):
    """No HTTP answer at all, or the service refuses our credentials: no verdict about quality possible."""


@dataclass(frozen=True)
class RetrievedSource:
    id: str
    source: str
    content: str


@dataclass
class Turn:
    """What the service answered to one case (or why it did not)."""

    answer: str = ""
    retrieved: list[RetrievedSource] = field(default_factory=list)
    ttft_ms: float | None = None
    total_ms: float = 0.0
    prompt_versions: dict[str, str] = field(default_factory=dict)
    deployment: str | None = None
    error: str | None = None


def token_for(tenant: str, token: str | None) -> str | None:
    """The tenant's own test token, else the shared one: the variables `chatfleet loadtest` reads."""
    return os.environ.get(token_env_for(tenant)) or token or os.environ.get(TOKEN_ENV) or None


def wait_until_reachable(client: httpx.Client, wait_s: float) -> None:
    """Any HTTP answer (even 401 or 404) proves the service is up; transport failures are retried for
    `wait_s` (a fresh canary or staging Service routes only after a few seconds), then ServiceUnreachable."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.get("/healthz")
            return
        except httpx.TransportError as error:
            if time.monotonic() >= deadline:
                raise ServiceUnreachable(
                    f"{client.base_url} is unreachable: {type(error).__name__}: {error}"
                ) from None
        time.sleep(1.0)


def _apply(event: dict[str, Any], turn: Turn) -> None:
    context = event.get("context")
    if isinstance(context, dict):
        points = context.get("data_points")
        if isinstance(points, dict):
            turn.retrieved = [
                RetrievedSource(str(c.get("id", "")), str(c.get("source", "")), str(c.get("content", "")))
                for c in points.get("citations") or []
                if isinstance(c, dict)
            ]
        for thought in context.get("thoughts") or []:
            props = thought.get("props") if isinstance(thought, dict) else None
            if not isinstance(props, dict):
                continue
            if isinstance(props.get("prompt_versions"), dict):
                turn.prompt_versions = {str(k): str(v) for k, v in props["prompt_versions"].items()}
            if thought.get("title") == "Answer" and props.get("deployment"):
                turn.deployment = str(props["deployment"])


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(MAX_RETRY_WAIT_S, max(0.1, float(response.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0


def _problem_text(response: httpx.Response) -> str:
    response.read()
    try:
        body = response.json()
        detail = body.get("detail") or body.get("title") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")


def ask(client: httpx.Client, messages: list[dict[str, str]], tenant: str, token: str | None) -> Turn:
    """The service's answer to the last message. A refused connection or 401/403 raises ServiceUnreachable
    (no verdict possible); anything else that goes wrong is this turn's `error`."""
    headers = {"Accept": "application/jsonl", DEV_TENANT_HEADER: tenant}
    bearer = token_for(tenant, token)
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    body = {"messages": messages, "context": {"overrides": {"temperature": 0, "seed": 1}}}
    for attempt in range(RETRIES + 1):
        turn = Turn()
        started = time.perf_counter()
        try:
            with client.stream("POST", CHAT_PATH, json=body, headers=headers) as response:
                if response.status_code in (401, 403):
                    raise ServiceUnreachable(
                        f"{client.base_url} refused tenant {tenant}'s credentials ({_problem_text(response)})"
                    )
                if response.status_code in (429, 503) and attempt < RETRIES:
                    time.sleep(_retry_after(response))
                    continue
                if response.status_code != 200:
                    turn.error = _problem_text(response)
                    turn.total_ms = (time.perf_counter() - started) * 1000
                    return turn
                parts: list[str] = []
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if not isinstance(event, dict):
                        turn.error = "malformed stream line"
                        break
                    if event.get("error"):
                        turn.error = f"stream error: {event['error']}"
                        break
                    _apply(event, turn)
                    delta = event.get("delta")
                    content = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(content, str) and content:
                        if turn.ttft_ms is None:
                            turn.ttft_ms = (time.perf_counter() - started) * 1000
                        parts.append(content)
                turn.answer = "".join(parts)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise ServiceUnreachable(
                f"{client.base_url} is unreachable: {type(error).__name__}: {error}"
            ) from None
        except (
            httpx.TransportError
        ) as error:  # this turn broke off or timed out: a failed case, not a lost run
            turn.error = f"{type(error).__name__}: {error}"
        except json.JSONDecodeError:
            turn.error = "malformed stream line"
        turn.total_ms = (time.perf_counter() - started) * 1000
        return turn
    raise AssertionError("unreachable: the last attempt always returns")

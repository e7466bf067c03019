"""The simulator's HTTP app: Azure OpenAI chat completions and embeddings (Azure and plain OpenAI URL
shapes) plus an admin API under `/_sim` that changes faults and limits while traffic flows.

Timing is real (asyncio sleeps, no busy loops): TTFT before the response starts, then tokens paced at
`tokens_per_second`, batched so that one stream wakes up at most every `min_chunk_interval_ms`.
"""

import asyncio
import base64
import logging
import struct
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chatfleet.chat.simulator.config import FaultSettings, LimitSettings, SimulatorConfig
from chatfleet.chat.simulator.embeddings import embed
from chatfleet.chat.simulator.grounding import cached_answer
from chatfleet.chat.simulator.judging import judge_answer, judge_blocks
from chatfleet.chat.simulator.ratelimit import Admission, retry_after_headers
from chatfleet.chat.simulator.responses import (
    SSE_DONE,
    ChunkWriter,
    completion_body,
    error_body,
    new_completion_id,
    prompt_filtered_body,
)
from chatfleet.chat.simulator.schemas import ChatRequest, EmbeddingsRequest
from chatfleet.chat.simulator.state import DeploymentCounters, SimulatorState
from chatfleet.chat.simulator.tokens import content_text, count_message_tokens
from chatfleet.contracts.tokens import count_tokens, split_tokens

log = logging.getLogger("chatfleet.simulator")
BodyT = TypeVar("BodyT", ChatRequest, EmbeddingsRequest)
CLIENT_CLOSED = "499"  # nginx's status for a request the client closed before the response


class _StreamDropped(Exception):
    """Raised inside a stream to cut the connection like a failing upstream (no [DONE], no final chunk)."""


class SSEStreamResponse(Response):
    """A lean SSE response: no per-chunk framework overhead, client disconnects stop the generator, and a
    simulated drop closes the connection mid-body so clients see a truncated chunked response."""

    def __init__(self, chunks: AsyncGenerator[bytes, None], headers: dict[str, str]) -> None:
        self.status_code = 200
        self.background = None
        self._chunks = chunks
        all_headers = {**headers, "content-type": "text/event-stream; charset=utf-8"}
        self.raw_headers = [(name.lower().encode(), value.encode()) for name, value in all_headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = asyncio.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.create_task(watch_disconnect())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self._chunks:
                if disconnected.is_set():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except _StreamDropped:
            return  # the server closes the connection because the response was left incomplete
        finally:
            watcher.cancel()
            await self._chunks.aclose()


async def _wait_unless_abandoned(request: Request, seconds: float) -> bool:
    """Sleeps `seconds`; False as soon as the client closes the connection instead.

    A caller that gives up before the first token (a timeout, or the chat service abandoning an answer its
    screen refused) frees its slot at once, as Azure OpenAI stops work on a closed connection; otherwise
    the abandoned call would still count towards the in-flight load that shapes every other TTFT."""

    async def closed() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.create_task(closed())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
    finally:
        watcher.cancel()
    return not done


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def _ratelimit_headers(admission: Admission) -> dict[str, str]:
    return {
        "x-ratelimit-remaining-tokens": str(max(admission.remaining_tokens or 0, 0)),
        "x-ratelimit-remaining-requests": str(max(admission.remaining_requests or 0, 0)),
    }


def _throttled(admission: Admission, retry_after_s: float) -> JSONResponse:
    headers = {**_ratelimit_headers(admission), **retry_after_headers(retry_after_s)}
    seconds = headers["retry-after"]
    return _error(
        429,
        "429",
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded the rate "
        f"limit of your current quota. Please retry after {seconds} seconds.",
        headers=headers,
    )


def _auth_kind(request: Request) -> str | None:
    """Which credential the caller sent; the simulator accepts any value, like a key it cannot check."""
    if request.headers.get("api-key"):
        return "api-key"
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return "bearer"
    return None


def _unauthorized() -> JSONResponse:
    return _error(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
        "valid key for an active subscription and use a correct regional API endpoint for your resource.",
    )


def _deployment_not_found(deployment: str) -> JSONResponse:
    return _error(404, "DeploymentNotFound", f"The API deployment {deployment!r} does not exist.")


def _validation_error(error: ValidationError) -> JSONResponse:
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid body"}
    param = ".".join(str(part) for part in first["loc"]) or None
    return _error(400, "invalid_request_error", f"Invalid request body: {param}: {first['msg']}", param=param)


def build_app(config: SimulatorConfig | None = None) -> FastAPI:
    """One simulator instance: its own state, so tests can run several side by side."""
    config = config or SimulatorConfig()
    state = SimulatorState(config)
    app = FastAPI(title="chatfleet Azure OpenAI simulator", docs_url=None, redoc_url=None)
    app.state.simulator = state

    def _known(deployment: str) -> bool:
        return config.deployments is None or deployment in config.deployments

    async def _accept(
        request: Request, path_deployment: str | None, schema: type[BodyT]
    ) -> tuple[BodyT, str, DeploymentCounters] | Response:
        """The checks every data-plane call starts with, in Azure's order: deployment in the path, auth,
        body; then the counters of the deployment (from the body's `model` on the /v1 routes)."""
        if path_deployment is not None and not _known(path_deployment):
            return _deployment_not_found(path_deployment)
        counters = state.counters_for(path_deployment) if path_deployment is not None else None
        if counters is not None:
            counters.requests += 1
        kind = _auth_kind(request)
        # state.config, not config: mypy loses the closure's narrowing of `config` in this generic function
        if kind is None and state.config.require_api_key:
            if counters is not None:
                counters.responses["401"] += 1
            return _unauthorized()
        try:
            body = schema.model_validate_json(await request.body())
        except ValidationError as error:
            if counters is not None:  # counted, so tests can see that a bad request was not retried
                counters.responses["400"] += 1
            return _validation_error(error)
        deployment = path_deployment or body.model
        if not deployment:  # only on the /v1 routes, whose deployment is the body's `model`
            return _error(
                400, "invalid_request_error", "Missing 'model' (the deployment name).", param="model"
            )
        if counters is None:
            if not _known(deployment):
                return _deployment_not_found(deployment)
            counters = state.counters_for(deployment)
            counters.requests += 1
        counters.last_traceparent = request.headers.get("traceparent")
        if kind is not None:
            counters.auth_headers[kind] += 1
        return body, deployment, counters

    async def _chat(request: Request, path_deployment: str | None) -> Response:
        accepted = await _accept(request, path_deployment, ChatRequest)
        if isinstance(accepted, Response):
            return accepted
        body, deployment, counters = accepted
        faults = state.faults_for(deployment)
        messages = body.plain_messages()
        prompt_tokens = count_message_tokens(messages)
        max_tokens = body.output_limit()

        if faults.force_429:
            counters.responses["429"] += 1
            return _throttled(state.peek_admission(deployment), faults.retry_after_ms / 1000)
        admission = state.admit(deployment, prompt_tokens + max_tokens)
        if not admission.allowed:
            counters.responses["429"] += 1
            return _throttled(admission, admission.retry_after_s)
        headers = _ratelimit_headers(admission)

        conversation = tuple((str(m["role"]), content_text(m.get("content"))) for m in messages)
        prompt = "\n".join(text for _, text in conversation)
        if faults.content_filter == "prompt" or any(term in prompt for term in config.flag_terms):
            counters.responses["400"] += 1
            return JSONResponse(prompt_filtered_body(), status_code=400, headers=headers)
        if faults.error_rate and state.rng.random() < faults.error_rate:
            counters.responses[str(faults.error_status)] += 1
            return _error(
                faults.error_status, "InternalServerError", "Simulated upstream failure.", headers=headers
            )

        blocks = judge_blocks(messages)  # a judge prompt gets a rating of the texts it fences
        pieces = split_tokens(judge_answer(blocks) if blocks else cached_answer(conversation))
        finish_reason = "stop"
        if len(pieces) > max_tokens:
            pieces, finish_reason = pieces[:max_tokens], "length"
        if faults.content_filter == "completion":
            pieces, finish_reason = pieces[: max(1, len(pieces) // 2)], "content_filter"

        counters.inflight += 1
        try:
            ttft_s = (
                config.ttft_ms
                + config.ttft_per_inflight_ms * (counters.inflight - 1)
                + faults.added_latency_ms
            ) / 1000
            waited = await _wait_unless_abandoned(request, ttft_s)
            if waited and not body.stream:
                waited = await _wait_unless_abandoned(request, len(pieces) / config.tokens_per_second)
        except BaseException:
            counters.inflight -= 1
            raise
        if not waited:
            counters.inflight -= 1
            counters.responses[CLIENT_CLOSED] += 1
            return Response(status_code=499)  # nobody reads it: uvicorn drops writes to a closed connection
        completion_id = new_completion_id()
        if not body.stream:
            counters.inflight -= 1  # a stream's slot is released by its generator, when the stream ends
            counters.responses["200"] += 1
            counters.prompt_tokens += prompt_tokens
            counters.completion_tokens += len(pieces)
            return JSONResponse(
                completion_body(
                    completion_id=completion_id,
                    model=config.model,
                    text="".join(pieces),
                    finish_reason=finish_reason,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=len(pieces),
                ),
                headers=headers,
            )
        counters.responses["200"] += 1
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = _stream_chunks(
            ChunkWriter(completion_id, config.model),
            pieces,
            finish_reason,
            prompt_tokens,
            include_usage,
            faults.drop_after_tokens,
            counters,
        )
        return SSEStreamResponse(chunks, headers={**headers, "cache-control": "no-cache"})

    async def _stream_chunks(
        writer: ChunkWriter,
        pieces: list[str],
        finish_reason: str,
        prompt_tokens: int,
        include_usage: bool,
        drop_after: int | None,
        counters: DeploymentCounters,
    ) -> AsyncGenerator[bytes, None]:
        loop = asyncio.get_running_loop()
        interval = 1 / config.tokens_per_second
        batch = max(1, round(config.min_chunk_interval_ms / 1000 / interval))
        sent = 0
        try:
            yield writer.prompt_filter()
            yield writer.role()
            start = loop.time()
            limit = len(pieces) if drop_after is None else min(drop_after, len(pieces))
            while sent < limit:
                delay = start + sent * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                step = min(batch, limit - sent)
                yield writer.content("".join(pieces[sent : sent + step]))
                sent += step
            if drop_after is not None:
                counters.streams_dropped += 1
                raise _StreamDropped
            yield writer.finish(finish_reason)
            if include_usage:
                yield writer.usage(prompt_tokens, len(pieces))
            yield SSE_DONE
        finally:
            counters.inflight -= 1
            counters.prompt_tokens += prompt_tokens
            counters.completion_tokens += sent

    async def _embeddings(request: Request, path_deployment: str | None) -> Response:
        accepted = await _accept(request, path_deployment, EmbeddingsRequest)
        if isinstance(accepted, Response):
            return accepted
        body, deployment, counters = accepted
        texts = body.texts()
        if not texts:
            return _error(400, "invalid_request_error", "'input' must not be empty.", param="input")
        faults = state.faults_for(deployment)
        tokens = sum(count_tokens(text) for text in texts)
        if faults.force_429:
            counters.responses["429"] += 1
            return _throttled(state.peek_admission(deployment), faults.retry_after_ms / 1000)
        admission = state.admit(deployment, tokens)
        if not admission.allowed:
            counters.responses["429"] += 1
            return _throttled(admission, admission.retry_after_s)
        headers = _ratelimit_headers(admission)
        if faults.error_rate and state.rng.random() < faults.error_rate:
            counters.responses[str(faults.error_status)] += 1
            return _error(
                faults.error_status, "InternalServerError", "Simulated upstream failure.", headers=headers
            )
        if faults.added_latency_ms:
            await asyncio.sleep(faults.added_latency_ms / 1000)
        dimensions = body.dimensions or config.embedding_dimensions
        data = []
        for index, text in enumerate(texts):
            vector = embed(text, dimensions)
            encoded: list[float] | str = vector
            if body.encoding_format == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        counters.responses["200"] += 1
        counters.prompt_tokens += tokens
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse(
            {"object": "list", "data": data, "model": config.model, "usage": usage}, headers=headers
        )

    def _require_api_version(request: Request) -> JSONResponse | None:
        if not request.query_params.get("api-version"):
            return _error(404, "404", "Resource not found: the api-version query parameter is required.")
        return None

    @app.post("/openai/deployments/{deployment}/chat/completions", include_in_schema=False)
    async def azure_chat(deployment: str, request: Request) -> Response:
        return _require_api_version(request) or await _chat(request, deployment)

    @app.post("/openai/deployments/{deployment}/embeddings", include_in_schema=False)
    async def azure_embeddings(deployment: str, request: Request) -> Response:
        return _require_api_version(request) or await _embeddings(request, deployment)

    @app.post("/v1/chat/completions", include_in_schema=False)
    async def openai_chat(request: Request) -> Response:
        return await _chat(request, None)

    @app.post("/v1/embeddings", include_in_schema=False)
    async def openai_embeddings(request: Request) -> Response:
        return await _embeddings(request, None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_sim/state")
    async def get_state() -> dict[str, Any]:
        return state.snapshot()

    @app.put("/_sim/faults")
    async def put_global_faults(faults: FaultSettings) -> dict[str, Any]:
        state.set_faults(faults, None)
        log.warning("simulator: global faults set to %s", faults.model_dump(exclude_defaults=True))
        return state.snapshot()

    @app.put("/_sim/faults/{deployment}")
    async def put_deployment_faults(deployment: str, faults: FaultSettings) -> dict[str, Any]:
        state.set_faults(faults, deployment)
        log.warning("simulator: faults of %s set to %s", deployment, faults.model_dump(exclude_defaults=True))
        return state.snapshot()

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        state.clear_faults()
        return state.snapshot()

    @app.delete("/_sim/faults/{deployment}")
    async def clear_deployment_faults(deployment: str) -> dict[str, Any]:
        state.deployment_faults.pop(deployment, None)
        return state.snapshot()

    @app.put("/_sim/limits")
    async def put_global_limits(limits: LimitSettings) -> dict[str, Any]:
        state.set_limits(limits, None)
        return state.snapshot()

    @app.put("/_sim/limits/{deployment}")
    async def put_deployment_limits(deployment: str, limits: LimitSettings) -> dict[str, Any]:
        state.set_limits(limits, deployment)
        return state.snapshot()

    @app.delete("/_sim/limits")
    async def restore_limits() -> dict[str, Any]:
        state.restore_limits()
        return state.snapshot()

    @app.post("/_sim/reset")
    async def reset() -> dict[str, Any]:
        """Zero counters and quota windows, keep faults and limits (a clean slate between test cases)."""
        state.reset_counters()
        return state.snapshot()

    return app

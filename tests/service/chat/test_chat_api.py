"""The chat API end to end on loopback: real simulator, real local index, real HTTP clients."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from chatfleet.chat.telemetry.exposition import MetricsListener
from chatfleet.paths import EXAMPLES_DIR

pytestmark = pytest.mark.service

CITATION = re.compile(r"\[([^\[\]\s]+)\]")


def corpus_files(tenant: str) -> set[str]:
    return {p.name for p in (EXAMPLES_DIR / "corpus" / tenant).glob("*.md")}


def assert_sources_of(tenant: str, citations: list[dict]) -> None:
    """Every data point comes from the caller's tenant: nothing of the other tenant leaks."""
    own = corpus_files(tenant)
    for citation in citations:
        assert citation["source"].split("/")[-1] in own, citation["source"]


async def test_chat_answers_with_citations_among_data_points(service) -> None:
    async with service.client("contoso") as client:
        response = await client.post(
            "/chat",
            json={
                "messages": [{"role": "user", "content": "How do I fix VPN error GP-4012?"}],
                "context": {"overrides": {"suggest_followup_questions": True}},
                "session_state": {"s": 1},
            },
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"]["role"] == "assistant"
    content = body["message"]["content"]
    cited = CITATION.findall(content)
    ids = {c["id"] for c in body["context"]["data_points"]["citations"]}
    assert cited and set(cited) <= ids
    assert any("GP-4012" in c["content"] for c in body["context"]["data_points"]["citations"])
    assert_sources_of("contoso", body["context"]["data_points"]["citations"])
    assert body["context"]["data_points"]["text"][0].split(": ", 1)[0] in ids
    thoughts = body["context"]["thoughts"]
    assert any(t["props"].get("prompt") == "answer@2" for t in thoughts)
    assert thoughts[-1]["title"] == "Answer" and thoughts[-1]["props"]["finish_reason"] == "stop"
    assert isinstance(body["context"]["followup_questions"], list)
    assert body["session_state"] == {"s": 1}


async def test_stream_is_jsonl_with_context_first_and_content_deltas(service, jsonl) -> None:
    async with (
        service.client("fabrikam") as client,
        client.stream(
            "POST",
            "/chat/stream",
            json={"messages": [{"role": "user", "content": "What does error E1 mean?"}]},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/jsonl")
        assert "content-encoding" not in response.headers
        assert "retrieval;dur=" in response.headers["server-timing"]
        chunks = [chunk async for chunk in response.aiter_text()]
    lines = jsonl("".join(chunks))
    first = lines[0]
    assert first["delta"] == {"role": "assistant"}
    assert set(first["context"]) >= {"data_points", "thoughts"}
    citations = first["context"]["data_points"]["citations"]
    assert_sources_of("fabrikam", citations)
    deltas = [line["delta"]["content"] for line in lines[1:] if line.get("delta", {}).get("content")]
    assert len(deltas) > 1, "the answer must arrive in several deltas, not one buffered blob"
    answer = "".join(deltas)
    assert "C wire" in answer or "C terminal" in answer
    assert set(CITATION.findall(answer)) <= {c["id"] for c in citations}
    assert CITATION.findall(answer)
    assert "error" not in lines[-1]
    assert lines[-1]["context"]["thoughts"][0]["title"] == "Answer"


async def test_multi_turn_rewrites_the_query(service) -> None:
    messages = [
        {"role": "user", "content": "How long is the warranty?"},
        {
            "role": "assistant",
            "content": "Fabrikam devices have a 2-year limited warranty [warranty-returns.md#0].",
        },
        {"role": "user", "content": "How do I start a claim for it?"},
    ]
    async with service.client("fabrikam") as client:
        response = await client.post("/chat", json={"messages": messages})
    assert response.status_code == 200, response.text
    thoughts = response.json()["context"]["thoughts"]
    assert thoughts[0]["title"] == "Generated search query"
    assert thoughts[0]["props"]["prompt"] == "query_rewrite@1"


async def test_other_tenant_documents_never_returned(service) -> None:
    async with service.client("fabrikam") as client:
        response = await client.post(
            "/chat",
            json={"messages": [{"role": "user", "content": "GlobalProtect VPN error GP-4012 gateway"}]},
        )
    assert response.status_code == 200
    body = response.json()
    assert_sources_of("fabrikam", body["context"]["data_points"]["citations"])
    assert "GP-4012" not in body["message"]["content"]


async def test_no_relevant_sources_answers_without_the_model(service) -> None:
    async with service.client("contoso") as client:
        response = await client.post(
            "/chat",
            json={
                "messages": [{"role": "user", "content": "zyxwvut qqqq plorbex"}],
                "context": {"overrides": {"retrieval_mode": "text"}},
            },
        )
    assert response.status_code == 200
    body = response.json()
    assert body["context"]["data_points"]["citations"] == []
    assert "couldn't find anything" in body["message"]["content"]
    assert any(t["title"].startswith("No relevant sources") for t in body["context"]["thoughts"])


async def test_openai_sdk_non_stream_and_stream(service) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{service.url}/v1",
        api_key="unused-in-dev-mode",
        default_headers={"X-Chatfleet-Tenant": "contoso"},
    )
    try:
        models = await client.models.list()
        assert [m.id for m in models.data] == ["chatfleet-rag"]
        completion = await client.chat.completions.create(
            model="chatfleet-rag",
            messages=[
                {"role": "system", "content": "ignored"},
                {"role": "user", "content": "How long is parental leave?"},
            ],
        )
        text = completion.choices[0].message.content or ""
        assert "20 weeks" in text
        assert CITATION.search(text) and "\n\nSources:\n" in text
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None and completion.usage.completion_tokens > 0

        stream = await client.chat.completions.create(
            model="chatfleet-rag",
            messages=[{"role": "user", "content": "What is the hotel limit in London?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts, finish, usage = [], None, None
        async for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
        streamed = "".join(parts)
        assert "350 USD" in streamed and "Sources:" in streamed
        assert finish == "stop" and usage is not None and usage.total_tokens > 0
    finally:
        await client.close()


async def test_openai_sdk_sees_problem_errors(service) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{service.url}/v1", api_key="x", default_headers={"X-Chatfleet-Tenant": "contoso"}
    )
    try:
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="m", messages=[{"role": "assistant", "content": "hi"}])
    finally:
        await client.close()


async def test_config_health_ready_and_metrics(service) -> None:
    async with service.client(None) as client:
        config = (await client.get("/config")).json()
        assert config["auth"]["mode"] == "none" and config["auth"]["tenant_header"] == "X-Chatfleet-Tenant"
        assert config["prompts"] == {"answer": "2", "no_sources": "1", "query_rewrite": "1"}
        assert config["limits"]["max_messages"] == 6
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert (await client.get("/metrics")).status_code == 404, "metrics live on their own port"
    listener = MetricsListener("127.0.0.1", 0, lambda: service.app.state.runtime.metrics.registry)
    try:
        async with httpx.AsyncClient(timeout=10) as scraper:
            metrics = (await scraper.get(f"http://127.0.0.1:{listener.port}/metrics")).text
    finally:
        listener.close()
    for name in (
        "chatfleet_ttft_seconds_bucket",
        "chatfleet_inflight_streams 0.0",
        "chatfleet_ttft_p95_seconds",
        "chatfleet_output_tokens_total",
        'chatfleet_requests_total{code="200",route="/chat"}',
        "chatfleet_retrieval_seconds_count",
        "chatfleet_upstream_requests_total",
    ):
        assert name in metrics, name
    assert re.search(r'chatfleet_ttft_seconds_count\{route="/chat/stream",tenant="fabrikam"\} [1-9]', metrics)


async def test_ui_page_served_without_external_resources(service) -> None:
    async with service.client(None) as client:
        page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert not re.search(r"""(src|href)=["']https?://""", page.text), (
        "the UI must not load anything from a CDN"
    )

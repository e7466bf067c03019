"""The simulator speaks Azure OpenAI: the real `openai` SDK and raw SSE parsing both work against it."""

import json

import httpx
import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI

from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION

pytestmark = pytest.mark.service

GROUNDED = [
    {
        "role": "system",
        "content": "Answer from the sources and cite them.\nSources:\n"
        "[guide.md#3]: The operator promotes a revision only after the load test passes.\n"
        "[faq.md#1]: Bananas are rich in potassium.",
    },
    {"role": "user", "content": "When does the operator promote a revision?"},
]


def _client(simulator, **auth: str) -> AsyncAzureOpenAI:
    return AsyncAzureOpenAI(
        azure_endpoint=simulator.base_url,
        api_version=DEFAULT_API_VERSION,
        max_retries=0,
        **(auth or {"api_key": "any"}),
    )


async def test_stream_and_non_stream_agree_and_cite(simulator, admin) -> None:
    client = _client(simulator)
    whole = await client.chat.completions.create(model="gpt", messages=GROUNDED)
    text = whole.choices[0].message.content
    assert text == "The operator promotes a revision only after the load test passes [guide.md#3]."
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage.completion_tokens > 5

    stream = await client.chat.completions.create(
        model="gpt", messages=GROUNDED, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices == []  # Azure's prompt_filter_results chunk comes first
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    await client.close()


async def test_raw_sse_framing(simulator, admin) -> None:
    async with (
        httpx.AsyncClient(base_url=simulator.base_url) as http,
        http.stream(
            "POST",
            f"/openai/deployments/gpt/chat/completions?api-version={DEFAULT_API_VERSION}",
            headers={"api-key": "k"},
            json={"messages": GROUNDED, "stream": True},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert int(response.headers["x-ratelimit-remaining-requests"]) > 0
        events = [line async for line in response.aiter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(line[6:]) for line in events[:-1]]
    assert all("usage" not in p for p in payloads), "usage only when stream_options.include_usage"
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"


async def test_plain_openai_shape(simulator, admin) -> None:
    client = AsyncOpenAI(base_url=f"{simulator.base_url}/v1", api_key="any", max_retries=0)
    answer = await client.chat.completions.create(model="gpt", messages=GROUNDED, max_tokens=4)
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 4
    await client.close()


async def test_rewrite_request_gets_a_keyword_query(simulator, admin) -> None:
    client = _client(simulator)
    messages = [
        {"role": "system", "content": "Rewrite the conversation into a standalone search query."},
        {"role": "user", "content": "How do I rotate the signing keys of my tenant?"},
    ]
    answer = await client.chat.completions.create(model="gpt", messages=messages)
    assert answer.choices[0].message.content == "rotate signing keys tenant"
    await client.close()


async def test_embeddings_float_and_base64_agree(simulator, admin) -> None:
    client = _client(simulator)
    via_sdk = await client.embeddings.create(
        model="embed", input=["refund policy", "gpu quota"], dimensions=64
    )
    assert [len(item.embedding) for item in via_sdk.data] == [64, 64]  # the SDK asked for base64
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        response = await http.post(
            f"/openai/deployments/embed/embeddings?api-version={DEFAULT_API_VERSION}",
            headers={"api-key": "k"},
            json={"input": "refund policy", "dimensions": 64, "encoding_format": "float"},
        )
    floats = response.json()["data"][0]["embedding"]
    assert floats == pytest.approx(via_sdk.data[0].embedding, abs=1e-6)
    await client.close()


async def test_missing_credentials_is_401(simulator, admin) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        response = await http.post(
            f"/openai/deployments/gpt/chat/completions?api-version={DEFAULT_API_VERSION}",
            json={"messages": GROUNDED},
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "401"


async def test_bearer_token_is_accepted(simulator, admin) -> None:
    client = _client(simulator, azure_ad_token="header.payload.signature")
    answer = await client.chat.completions.create(model="gpt", messages=GROUNDED)
    assert answer.choices[0].finish_reason == "stop"
    assert admin.get("/_sim/state").json()["deployments"]["gpt"]["auth"] == {"bearer": 1}
    await client.close()


async def test_bad_input_gets_clear_400s(simulator, admin) -> None:
    client = _client(simulator)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt", messages=[])
    assert caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt", messages=GROUNDED, temperature=7)
    assert caught.value.param == "temperature"
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        no_version = await http.post(
            "/openai/deployments/gpt/chat/completions", headers={"api-key": "k"}, json={"messages": GROUNDED}
        )
        not_json = await http.post(
            f"/openai/deployments/gpt/chat/completions?api-version={DEFAULT_API_VERSION}",
            headers={"api-key": "k"},
            content=b"{nope",
        )
    assert no_version.status_code == 404 and "api-version" in no_version.json()["error"]["message"]
    assert not_json.status_code == 400
    await client.close()

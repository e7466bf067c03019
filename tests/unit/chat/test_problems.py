"""Problem details: stable type URIs, Retry-After rounding, validation errors without echoed input."""

import json

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from chatfleet.chat.api.problems import install_problem_handlers, retry_after_header
from chatfleet.chat.problems import ALL_PROBLEM_TYPES, PROBLEM_BASE, RATE_LIMITED, UNAUTHORIZED, ProblemError


class Body(BaseModel):
    count: int


def app_with_handlers() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/items")
    async def items(body: Body) -> dict:
        return {"count": body.count}

    @app.get("/limited")
    async def limited() -> dict:
        raise ProblemError(RATE_LIMITED, "budget used up", retry_after_s=1.2)

    @app.get("/who")
    async def who() -> dict:
        raise ProblemError(UNAUTHORIZED, "token missing")

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("secret internals")

    return app


async def call(method: str, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_with_handlers(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, **kwargs)


def test_problem_types_are_unique_and_stable() -> None:
    slugs = [p.slug for p in ALL_PROBLEM_TYPES]
    assert len(slugs) == len(set(slugs))
    assert all(p.uri == PROBLEM_BASE + p.slug for p in ALL_PROBLEM_TYPES)


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (30.5, "31")]
)
def test_retry_after_rounds_up(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header


async def test_validation_error_is_problem_json_without_input_echo() -> None:
    response = await call("POST", "/items", json={"count": "not-a-number-SECRET"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM_BASE + "validation-error"
    assert body["errors"][0]["field"] == "count"
    assert "SECRET" not in response.text


async def test_retry_after_and_www_authenticate() -> None:
    limited = await call("GET", "/limited")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["retry_after_s"] == 1.2
    who = await call("GET", "/who")
    assert who.status_code == 401
    assert who.headers["www-authenticate"] == "Bearer"


async def test_not_found_and_unhandled_errors_are_problems() -> None:
    missing = await call("GET", "/nope")
    assert missing.status_code == 404
    assert missing.json()["type"] == PROBLEM_BASE + "not-found"
    boom = await call("GET", "/boom")
    assert boom.status_code == 500
    assert "secret internals" not in boom.text
    assert json.loads(boom.text)["type"] == PROBLEM_BASE + "internal-error"

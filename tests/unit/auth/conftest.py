"""A real test issuer per test: RSA keys, a JWKS document served over HTTP on 127.0.0.1, and a token factory
(`loopback_issuer` in tests/conftest.py)."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

ISSUER = "https://login.example.test/tenant-guid/v2.0"
AUDIENCE = "api://support-bot"


@pytest.fixture
def issuer(loopback_issuer: Callable[..., Any]) -> Iterator[tuple[Any, str]]:
    """Yields the issuer and its JWKS URL (http on loopback, which the authenticator allows)."""
    with loopback_issuer(
        ISSUER, AUDIENCE, tid="contoso", oid="user-1", groups=["g1"], roles=["Chat.User"], name="Ada"
    ) as state:
        yield state, state.jwks_url

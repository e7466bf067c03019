"""The issuer's signing keys: fetched over HTTPS, cached, refetched on an unknown `kid` (key rotation).

Refetching on an unknown kid is rate limited, so a flood of tokens with made-up kids cannot turn the
service into an amplifier against the identity provider. The JWKS URI comes from settings or from the
issuer's OIDC discovery document; plain http is accepted only for loopback (local test issuers).
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import jwt

from chatfleet.chat.auth.errors import AuthError
from chatfleet.contracts.endpoints import IDENTITY

log = logging.getLogger(__name__)


class JwksCache:
    """Keys by kid; refreshed every `max_age_s`, or early for an unknown kid at most every `min_refresh_s`."""

    def __init__(
        self,
        *,
        jwks_uri: str | None = None,
        issuer: str | None = None,
        min_refresh_s: float = 5.0,
        max_age_s: float = 3600.0,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if jwks_uri is None and issuer is None:
            raise ValueError("JWKS needs CHATFLEET_AUTH_JWKS_URI or CHATFLEET_AUTH_ISSUER (OIDC discovery)")
        if jwks_uri is not None:
            IDENTITY.require(jwks_uri, "CHATFLEET_AUTH_JWKS_URI")
        if issuer is not None and jwks_uri is None:
            IDENTITY.require(issuer, "CHATFLEET_AUTH_ISSUER")
        self._jwks_uri = jwks_uri
        self._issuer = issuer
        self._min_refresh_s = min_refresh_s
        self._max_age_s = max_age_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._owns_client = client is None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        """The verification key for `kid`, refreshing the set when it is stale or the kid is new."""
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None and now - self._fetched_at < self._max_age_s:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            stale = time.monotonic() - self._fetched_at >= self._max_age_s
            if key is None or stale:
                if key is None and time.monotonic() - self._fetched_at < self._min_refresh_s:
                    raise AuthError("token signed with an unknown key")
                await self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise AuthError("token signed with an unknown key")
        return key

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()  # also on failure: rate-limits retries against a failing IdP
        try:
            uri = self._jwks_uri or await self._discover()
            response = await self._client.get(uri, headers={"Accept": "application/json"})
            response.raise_for_status()
            jwk_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
            log.error("fetching the issuer's signing keys failed: %s", type(exc).__name__)
            if self._keys:
                return  # keep serving with the keys we have; a rotated key will be retried later
            raise AuthError("identity provider signing keys are unavailable", status=503) from exc
        keys = {k.key_id: k for k in jwk_set.keys if k.key_id and (k.public_key_use in (None, "sig"))}
        log.info("loaded %d signing keys from the issuer's JWKS", len(keys))
        self._keys = keys

    async def _discover(self) -> str:
        assert self._issuer is not None
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await self._client.get(url)
        response.raise_for_status()
        jwks_uri = response.json().get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("OIDC discovery document has no jwks_uri")
        self._jwks_uri = IDENTITY.require(jwks_uri, "jwks_uri from OIDC discovery")
        return self._jwks_uri

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

"""Bearer-token authentication: the only code that creates a Principal.

entra mode validates, in this order: header shape, algorithm against a fixed asymmetric allow-list
(so `none` and HS256-with-the-public-key confusion never reach the signature check), the signing key by
kid from the issuer's JWKS, then signature, exp/nbf/iat (small leeway), issuer and audience; then, when
the app requires them, a scope in `scp` (delegated tokens) and an app role in `roles` (403
insufficient_scope otherwise). The tenant comes from a configurable claim (default `tid`). none mode
trusts the X-Chatfleet-Tenant header and exists for local development only; it logs a warning at
start-up and settings refuse it outside dev mode.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from chatfleet.chat.auth.errors import AuthError
from chatfleet.chat.auth.jwks import JwksCache
from chatfleet.chat.retrieval.base import Principal
from chatfleet.contracts.tenancy import DEV_TENANT_HEADER

log = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_TOKEN_BYTES = 16_384
TENANT_ISSUER_PLACEHOLDER = (
    "{tenantid}"  # Entra multi-tenant issuers: https://login.microsoftonline.com/{tenantid}/v2.0
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")


@dataclass(frozen=True)
class AuthConfig:
    """What the authenticator needs from settings (CHATFLEET_AUTH_*)."""

    mode: Literal["entra", "none"] = "entra"
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    jwks_uri: str | None = None
    tenant_claim: str = "tid"
    algorithms: tuple[str, ...] = ("RS256",)
    allowed_tenants: tuple[str, ...] = ()
    leeway_s: float = 60.0
    jwks_min_refresh_s: float = 5.0  # unknown-kid refetches: at most one per 5 s per replica
    required_scopes: tuple[str, ...] = ()  # any one of them in `scp` (space-separated in Entra tokens)
    required_roles: tuple[str, ...] = ()  # any one of them in `roles`

    def __post_init__(self) -> None:
        if self.mode == "entra":
            if not self.issuer or not self.audience:
                raise ValueError("auth mode entra needs CHATFLEET_AUTH_ISSUER and CHATFLEET_AUTH_AUDIENCE")
            bad = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
            if bad or not self.algorithms:
                raise ValueError(
                    f"CHATFLEET_AUTH_ALGORITHMS must be asymmetric signature algorithms, not {bad or 'empty'}"
                )
            if TENANT_ISSUER_PLACEHOLDER in self.issuer and not self.jwks_uri:
                raise ValueError("a templated issuer ({tenantid}) needs CHATFLEET_AUTH_JWKS_URI")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for Starlette Headers and plain dicts."""
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str) and v)


class Authenticator:
    """`await authenticate(headers)` -> Principal, or AuthError (401/403/503)."""

    def __init__(self, config: AuthConfig, *, jwks: JwksCache | None = None) -> None:
        self.config = config
        self._jwks: JwksCache | None = None
        if config.mode == "entra":
            issuer_for_discovery = None if config.jwks_uri else config.issuer
            self._jwks = jwks or JwksCache(
                jwks_uri=config.jwks_uri, issuer=issuer_for_discovery, min_refresh_s=config.jwks_min_refresh_s
            )
        else:
            log.warning(
                "AUTH IS OFF (CHATFLEET_AUTH_MODE=none): any caller can claim any tenant with the %s "
                "header. Use this for local development only.",
                DEV_TENANT_HEADER,
            )

    @classmethod
    def from_settings(cls, settings: Any) -> Authenticator:
        audience = settings.auth_audience
        audiences = tuple(a.strip() for a in audience.split(",") if a.strip()) if audience else ()
        return cls(
            AuthConfig(
                mode=settings.auth_mode,
                issuer=settings.auth_issuer,
                audience=audiences,
                jwks_uri=settings.auth_jwks_uri,
                tenant_claim=settings.auth_tenant_claim,
                algorithms=tuple(settings.auth_algorithms),
                allowed_tenants=tuple(settings.tenants),
                leeway_s=float(getattr(settings, "auth_leeway_s", 60.0)),
                jwks_min_refresh_s=float(getattr(settings, "auth_jwks_min_refresh_s", 5.0)),
                required_scopes=tuple(getattr(settings, "auth_required_scopes", ())),
                required_roles=tuple(getattr(settings, "auth_required_roles", ())),
            )
        )

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        if self.config.mode == "none":
            principal = self._dev_principal(headers)
        else:
            principal = await self._token_principal(_header(headers, "authorization"))
        allowed = self.config.allowed_tenants
        if allowed and principal.tenant not in allowed:
            raise AuthError("this chat application does not serve your tenant", status=403, error=None)
        return principal

    def _dev_principal(self, headers: Mapping[str, str]) -> Principal:
        tenant = _header(headers, DEV_TENANT_HEADER.lower())
        if not tenant:
            raise AuthError(f"auth mode none: send the tenant in the {DEV_TENANT_HEADER} header", error=None)
        if not _SAFE_ID.match(tenant):
            raise AuthError(f"{DEV_TENANT_HEADER} must be 1-128 letters, digits or . _ @ : -")
        return Principal(tenant=tenant, oid="dev-user", name="developer")

    async def _token_principal(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthError("bearer token required", error=None)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise AuthError("the Authorization header must be 'Bearer <token>'", error="invalid_request")
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("token is not a well-formed JWT") from exc
        algorithm = header.get("alg")
        if algorithm not in self.config.algorithms:
            raise AuthError("token signature algorithm is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token header has no key id (kid)")
        assert self._jwks is not None
        key = await self._jwks.key(kid)
        claims = self._verify(token, key)
        self._authorize(claims)
        return self._principal(claims)

    def _authorize(self, claims: Mapping[str, Any]) -> None:
        """A valid token of the right audience is not enough when the app requires a scope or an app role:
        other client apps of the same tenant may hold tokens for this API without being granted it."""
        scopes, roles = self.config.required_scopes, self.config.required_roles
        if scopes:
            scp = claims.get("scp")
            granted = set(scp.split()) if isinstance(scp, str) else set()
            if not granted.intersection(scopes):
                raise AuthError(
                    f"token lacks a required scope (one of: {' '.join(scopes)})",
                    status=403,
                    error="insufficient_scope",
                    scope=" ".join(scopes),
                )
        if roles and not set(_strings(claims.get("roles"))).intersection(roles):
            raise AuthError(
                f"token lacks a required app role (one of: {' '.join(roles)})",
                status=403,
                error="insufficient_scope",
            )

    def _verify(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        cfg = self.config
        assert cfg.issuer is not None
        templated = TENANT_ISSUER_PLACEHOLDER in cfg.issuer
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(cfg.algorithms),
                audience=list(cfg.audience),
                issuer=None if templated else cfg.issuer,
                leeway=cfg.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud"], "verify_iss": not templated},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("token not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("token audience is not this application") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("token issuer is not trusted") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the required claim {exc.claim!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("token signature is invalid") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("token is invalid") from exc
        if templated:
            tid = claims.get("tid")
            expected = cfg.issuer.replace(TENANT_ISSUER_PLACEHOLDER, tid) if isinstance(tid, str) else None
            if expected is None or claims.get("iss") != expected:
                raise AuthError("token issuer is not trusted")
        return claims

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        tenant = claims.get(self.config.tenant_claim)
        if not isinstance(tenant, str) or not _SAFE_ID.match(tenant):
            raise AuthError(f"token has no usable tenant claim {self.config.tenant_claim!r}")
        oid = claims.get("oid")
        name = claims.get("name") or claims.get("preferred_username")
        return Principal(
            tenant=tenant,
            oid=oid if isinstance(oid, str) and oid else None,
            groups=_strings(claims.get("groups")),
            roles=_strings(claims.get("roles")),
            name=name if isinstance(name, str) else None,
        )

    def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()

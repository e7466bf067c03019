"""Bearer-token validation against a real JWKS endpoint on loopback: every attack is a 401."""

import base64
import json
import time

import jwt
import pytest

from chatfleet.chat.auth import AuthConfig, Authenticator, AuthError, JwksCache
from tests.helpers.tokens import attacker_key, attacker_token, b64url, hs256_token, unsigned_token

AUDIENCE = "api://support-bot"
ISSUER = "https://login.example.test/tenant-guid/v2.0"


def make(jwks_uri: str, **overrides: object) -> Authenticator:
    config = {
        "mode": "entra",
        "issuer": ISSUER,
        "audience": (AUDIENCE,),
        "jwks_uri": jwks_uri,
        "leeway_s": 5.0,
        "jwks_min_refresh_s": 0.0,
        **overrides,
    }
    return Authenticator(AuthConfig(**config))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_yields_principal_from_claims(issuer):
    state, uri = issuer
    auth = make(uri)
    principal = await auth.authenticate(bearer(state.token()))
    assert principal.tenant == "contoso"
    assert principal.oid == "user-1"
    assert principal.groups == ("g1",)
    assert principal.roles == ("Chat.User",)
    assert principal.name == "Ada"
    await auth.aclose()


async def test_tenant_claim_is_configurable(issuer):
    state, uri = issuer
    auth = make(uri, tenant_claim="org")
    assert (await auth.authenticate(bearer(state.token(org="fabrikam")))).tenant == "fabrikam"
    with pytest.raises(AuthError, match="tenant claim"):
        await auth.authenticate(bearer(state.token()))  # no `org` claim
    await auth.aclose()


def _attacks(state) -> dict[str, str]:
    now = int(time.time())
    good = state.token()
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = dict(claims, tid="fabrikam")
    return {
        "alg none": unsigned_token(claims, {"alg": "none", "typ": "JWT", "kid": "k1"}),
        "HS256 with the RSA public key": hs256_token(claims, state.public_pem("k1")),
        "expired": state.token(exp=now - 3600, iat=now - 7200, nbf=now - 7200),
        "not yet valid": state.token(nbf=now + 3600),
        "issued in the future": state.token(iat=now + 3600),
        "wrong audience": state.token(aud="api://other-app"),
        "wrong issuer": state.token(iss="https://evil.example/v2.0"),
        "unknown kid": attacker_token(claims, "attacker"),
        "tampered payload": f"{header}.{b64url(json.dumps(tampered).encode())}.{signature}",
        "missing exp": state.token(exp=None),
        "missing aud": state.token(aud=None),
        "garbage": "not-a-jwt",
        "no kid": jwt.encode(claims, state.keys["k1"], algorithm="RS256"),
        "RS512 not in the allow-list": jwt.encode(
            claims, state.keys["k1"], algorithm="RS512", headers={"kid": "k1"}
        ),
    }


async def test_every_attack_is_401_with_a_challenge_and_no_token_echo(issuer):
    state, uri = issuer
    auth = make(uri)
    for name, token in _attacks(state).items():
        with pytest.raises(AuthError) as info:
            await auth.authenticate(bearer(token))
        error = info.value
        assert error.status == 401, name
        assert error.headers["WWW-Authenticate"].startswith("Bearer"), name
        assert token[:20] not in str(error), name
    await auth.aclose()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer a b"},
        {"authorization": "Token abc"},
    ],
)
async def test_missing_or_malformed_header_is_401(issuer, headers):
    _, uri = issuer
    auth = make(uri)
    with pytest.raises(AuthError) as info:
        await auth.authenticate(headers)
    assert info.value.status == 401
    await auth.aclose()


async def test_tenant_allow_list_gives_403(issuer):
    state, uri = issuer
    auth = make(uri, allowed_tenants=("fabrikam",))
    with pytest.raises(AuthError) as info:
        await auth.authenticate(bearer(state.token()))
    assert info.value.status == 403
    assert info.value.headers == {}
    await auth.aclose()


async def test_key_rotation_picks_up_a_new_kid(issuer):
    state, uri = issuer
    auth = make(uri)
    await auth.authenticate(bearer(state.token()))
    fetches = state.requests
    state.rotate("k2")
    principal = await auth.authenticate(bearer(state.token(kid="k2")))
    assert principal.tenant == "contoso"
    assert state.requests == fetches + 1
    await auth.authenticate(bearer(state.token(kid="k2")))  # cached now
    assert state.requests == fetches + 1
    await auth.aclose()


async def test_unknown_kid_refetches_are_rate_limited(issuer):
    state, uri = issuer
    auth = make(uri, jwks_min_refresh_s=3600.0)
    await auth.authenticate(bearer(state.token()))
    fetches = state.requests
    for _ in range(20):
        with pytest.raises(AuthError, match="unknown key"):
            await auth.authenticate(bearer(attacker_token({"tid": "contoso"}, "attacker")))
    assert state.requests == fetches  # a flood of made-up kids does not hammer the identity provider
    await auth.aclose()


async def test_unreachable_jwks_fails_closed_with_503():
    auth = make("http://127.0.0.1:9/keys")  # discard port: nothing listens
    key = attacker_key()
    now = int(time.time())
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60, "tid": "c"}, key, "RS256", {"kid": "x"}
    )
    with pytest.raises(AuthError) as info:
        await auth.authenticate(bearer(token))
    assert info.value.status == 503
    await auth.aclose()


async def test_templated_multi_tenant_issuer(issuer):
    state, uri = issuer
    auth = make(uri, issuer="https://login.example.test/{tenantid}/v2.0")
    ok = state.token(iss="https://login.example.test/contoso/v2.0", tid="contoso")
    assert (await auth.authenticate(bearer(ok))).tenant == "contoso"
    mismatch = state.token(iss="https://login.example.test/fabrikam/v2.0", tid="contoso")
    with pytest.raises(AuthError, match="issuer"):
        await auth.authenticate(bearer(mismatch))
    await auth.aclose()


async def test_none_mode_reads_the_dev_header(caplog):
    auth = Authenticator(AuthConfig(mode="none"))
    assert "AUTH IS OFF" in caplog.text
    assert (await auth.authenticate({"X-Chatfleet-Tenant": "contoso"})).tenant == "contoso"
    with pytest.raises(AuthError):
        await auth.authenticate({})
    with pytest.raises(AuthError):
        await auth.authenticate({"x-chatfleet-tenant": "a' OR 1=1"})


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ()])
def test_symmetric_or_none_algorithms_cannot_be_configured(algorithms):
    with pytest.raises(ValueError, match="asymmetric"):
        AuthConfig(mode="entra", issuer=ISSUER, audience=(AUDIENCE,), algorithms=algorithms)


@pytest.mark.parametrize(
    "url", ["http://login.example.com/keys", "ftp://127.0.0.1/k", "http://10.0.0.1/keys", "keys.json"]
)
def test_jwks_uri_must_be_https_except_loopback(url):
    with pytest.raises(ValueError, match="CHATFLEET_AUTH_JWKS_URI must be an https://"):
        JwksCache(jwks_uri=url)


def test_loopback_http_is_allowed():
    for url in ("http://127.0.0.1:8080/k", "http://localhost/k", "http://[::1]:1/k", "https://x.example/k"):
        JwksCache(jwks_uri=url)


async def test_required_scope_is_one_of_the_space_separated_scp_values(issuer):
    state, uri = issuer
    auth = make(uri, required_scopes=("Chat.Use", "Chat.Admin"))
    principal = await auth.authenticate(bearer(state.token(scp="User.Read Chat.Use")))
    assert principal.tenant == "contoso"
    for scp in ("User.Read", "Chat.User", "chat.use", None, ["Chat.Use"]):
        with pytest.raises(AuthError, match="required scope") as caught:
            await auth.authenticate(bearer(state.token(scp=scp)))
        assert caught.value.status == 403
        challenge = caught.value.headers["WWW-Authenticate"]
        assert challenge == (
            'Bearer realm="chatfleet", error="insufficient_scope", scope="Chat.Use Chat.Admin"'
        )
    await auth.aclose()


async def test_required_role_must_be_in_roles(issuer):
    state, uri = issuer
    auth = make(uri, required_roles=("Chat.Gate",))
    assert (await auth.authenticate(bearer(state.token(roles=["Other", "Chat.Gate"])))).roles == (
        "Other",
        "Chat.Gate",
    )
    for roles in (["Chat.User"], [], None, "Chat.Gate"):
        with pytest.raises(AuthError, match="required app role") as caught:
            await auth.authenticate(bearer(state.token(roles=roles)))
        assert caught.value.status == 403 and caught.value.error == "insufficient_scope"
    await auth.aclose()


async def test_scope_and_role_both_required_when_both_set(issuer):
    state, uri = issuer
    auth = make(uri, required_scopes=("Chat.Use",), required_roles=("Chat.User",))
    await auth.authenticate(bearer(state.token(scp="Chat.Use")))  # default claims carry roles=[Chat.User]
    with pytest.raises(AuthError, match="required app role"):
        await auth.authenticate(bearer(state.token(scp="Chat.Use", roles=None)))
    await auth.aclose()


async def test_scope_check_runs_only_after_the_signature_holds(issuer):
    """A forged token that claims the scope is still a 401, never a 403 that would confirm the scope."""
    state, uri = issuer
    auth = make(uri, required_scopes=("Chat.Use",))
    with pytest.raises(AuthError) as caught:
        await auth.authenticate(bearer(attacker_token(state.claims(scp="Chat.Use"), "k1")))
    assert caught.value.status == 401
    await auth.aclose()

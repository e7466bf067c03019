"""Settings validators refuse unsafe or incomplete configurations with a message naming the variable."""

import pytest
from pydantic import ValidationError

from chatfleet.chat.config import Settings

ENTRA = {"auth_issuer": "https://login.microsoftonline.com/t/v2.0", "auth_audience": "api://bot"}


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in list(__import__("os").environ):
        if key.startswith("CHATFLEET_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(f"CHATFLEET_{key.upper()}", value)
    return Settings()


def test_auth_defaults_to_entra_and_needs_issuer_and_audience(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="CHATFLEET_AUTH_ISSUER, CHATFLEET_AUTH_AUDIENCE"):
        make(monkeypatch)
    settings = make(monkeypatch, **ENTRA)
    assert settings.auth_mode == "entra"
    assert settings.auth_tenant_claim == "tid"


def test_auth_none_refused_outside_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ValidationError, match="CHATFLEET_AUTH_MODE=none is only allowed with CHATFLEET_DEV_MODE"
    ):
        make(monkeypatch, auth_mode="none")
    assert make(monkeypatch, auth_mode="none", dev_mode="true").auth_mode == "none"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://login.example/keys", True),
        ("http://127.0.0.1:9000/keys", True),
        ("http://localhost:9000/keys", True),
        ("http://[::1]:9000/keys", True),
        ("http://login.example/keys", False),
        ("http://127.0.0.1.evil.example/keys", False),
        ("ftp://127.0.0.1/keys", False),
    ],
)
def test_jwks_uri_https_or_loopback_http(monkeypatch: pytest.MonkeyPatch, url: str, ok: bool) -> None:
    if ok:
        assert make(monkeypatch, auth_jwks_uri=url, **ENTRA).auth_jwks_uri == url
    else:
        with pytest.raises(ValidationError, match="CHATFLEET_AUTH_JWKS_URI must be an https://"):
            make(monkeypatch, auth_jwks_uri=url, **ENTRA)


def test_symmetric_algorithms_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="CHATFLEET_AUTH_ALGORITHMS"):
        make(monkeypatch, auth_algorithms="RS256,HS256", **ENTRA)
    assert make(monkeypatch, auth_algorithms="RS256, ES256", **ENTRA).auth_algorithms == ["RS256", "ES256"]


def test_lists_accept_json_or_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make(monkeypatch, tenants='["contoso","fabrikam"]', **ENTRA).tenants == ["contoso", "fabrikam"]
    assert make(monkeypatch, tenants="contoso, fabrikam", **ENTRA).tenants == ["contoso", "fabrikam"]


def test_guards_off_needs_dev_mode_and_shields_need_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="CHATFLEET_GUARDS_MODE=off"):
        make(monkeypatch, guards_mode="off", **ENTRA)
    with pytest.raises(ValidationError, match="CHATFLEET_CONTENT_SAFETY_ENDPOINT"):
        make(monkeypatch, guards_mode="prompt_shields", **ENTRA)


def test_backends_need_their_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="CHATFLEET_SEARCH_ENDPOINT and CHATFLEET_SEARCH_INDEX"):
        make(monkeypatch, search_backend="azure", **ENTRA)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    with pytest.raises(ValidationError, match="CHATFLEET_OTEL_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT"):
        make(monkeypatch, otel_exporters="otlp", **ENTRA)
    with pytest.raises(ValidationError, match="APPLICATIONINSIGHTS_CONNECTION_STRING"):
        make(monkeypatch, otel_exporters="otlp,azure_monitor", otel_endpoint="http://c:4317", **ENTRA)
    with pytest.raises(ValidationError, match="otel_exporters"):
        make(monkeypatch, otel_exporters="zipkin", **ENTRA)


def test_both_exporters_and_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=k")
    settings = make(monkeypatch, otel_exporters="otlp,azure_monitor", **ENTRA)
    assert settings.otel_exporters == ["otlp", "azure_monitor"]
    assert settings.applicationinsights_connection_string is not None
    assert settings.applicationinsights_connection_string.get_secret_value() == "InstrumentationKey=k"
    assert make(monkeypatch, otel_exporters="none", **ENTRA).otel_exporters == []


def test_deployments_parsed_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = '[{"name": "a", "endpoint": "https://aoai.example", "deployment": "d", "apiKey": "sk-TOPSECRET"}]'
    settings = make(monkeypatch, openai_deployments=pool, **ENTRA)
    assert settings.openai_deployments[0].name == "a"
    assert "TOPSECRET" not in repr(settings.openai_deployments[0])  # secrets never printed
    with pytest.raises(ValidationError, match="https"):
        make(
            monkeypatch,
            openai_deployments='[{"name":"a","endpoint":"http://aoai.example","deployment":"d"}]',
            **ENTRA,
        )
    dup = '[{"name":"a","endpoint":"https://x","deployment":"d"},{"name":"a","endpoint":"https://y","deployment":"d"}]'
    with pytest.raises(ValidationError, match="unique"):
        make(monkeypatch, openai_deployments=dup, **ENTRA)


def test_limits_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="CHATFLEET_DEFAULT_TOP"):
        make(monkeypatch, default_top="20", max_top="5", **ENTRA)
    with pytest.raises(ValidationError, match="max_messages"):
        make(monkeypatch, max_messages="0", **ENTRA)


def test_secrets_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(
        monkeypatch,
        otel_exporters="azure_monitor",
        applicationinsights_connection_string="InstrumentationKey=super-secret",
        **ENTRA,
    )
    assert "super-secret" not in repr(settings)
    assert "super-secret" not in settings.model_dump_json()


def test_required_scopes_and_roles_read_as_lists_and_need_entra(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(
        monkeypatch, auth_required_scopes="Chat.Use, Chat.Admin", auth_required_roles='["Gate"]', **ENTRA
    )
    assert settings.auth_required_scopes == ["Chat.Use", "Chat.Admin"]
    assert settings.auth_required_roles == ["Gate"]
    with pytest.raises(ValidationError, match="printable ASCII without spaces or quotes"):
        make(monkeypatch, auth_required_scopes='["Chat Use"]', **ENTRA)
    with pytest.raises(ValidationError, match="printable ASCII"):
        make(monkeypatch, auth_required_roles='["a\\"b"]', **ENTRA)
    with pytest.raises(ValidationError, match="need CHATFLEET_AUTH_MODE=entra"):
        make(monkeypatch, auth_mode="none", dev_mode="true", auth_required_scopes="Chat.Use")


def test_connection_limits_have_safe_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch, **ENTRA)
    assert 0 < settings.header_timeout_s <= 30 and 0 < settings.body_timeout_s <= 60
    assert settings.keep_alive_s > 60  # the ingress proxy's idle limit closes first
    assert settings.metrics_port == 9464 and settings.max_connections > 0
    assert settings.user_requests_per_minute == 0
    with pytest.raises(ValidationError, match="header_timeout_s"):
        make(monkeypatch, header_timeout_s="0", **ENTRA)


def test_a_postgres_store_needs_server_database_and_role(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="CHATFLEET_POSTGRES_DATABASE, CHATFLEET_POSTGRES_USER"):
        make(monkeypatch, **ENTRA, history_store="postgres", postgres_host="pg.example")
    with pytest.raises(ValidationError, match="CHATFLEET_SEMANTIC_CACHE_STORE=postgres needs"):
        make(monkeypatch, **ENTRA, semantic_cache_enabled="true", semantic_cache_store="postgres")
    make(monkeypatch, **ENTRA, semantic_cache_store="postgres")  # the cache off: nothing to connect
    with pytest.raises(ValidationError, match="CHATFLEET_POSTGRES_AUTH=entra"):
        make(monkeypatch, **ENTRA, postgres_password="secret")
    settings = make(
        monkeypatch,
        **ENTRA,
        history_store="postgres",
        postgres_host="pg.example",
        postgres_database="chat",
        postgres_user="support-bot-identity",
        postgres_auth="password",
        postgres_password="secret",
    )
    assert "secret" not in repr(settings)


async def test_postgres_auth_is_an_entra_credential_or_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity.aio import DefaultAzureCredential

    from chatfleet.chat.components import postgres_config
    from chatfleet.chat.postgres import EntraPassword

    server = {"postgres_host": "pg.example", "postgres_database": "chat", "postgres_user": "bot-identity"}
    closers: list = []
    entra = postgres_config(make(monkeypatch, **ENTRA, **server), closers)
    assert isinstance(entra.entra, EntraPassword) and entra.password is None
    assert isinstance(entra.entra.credential, DefaultAzureCredential), "workload identity in AKS"
    assert closers == [entra.entra.credential.close], "the credential is closed with the service"
    await closers[0]()
    local = postgres_config(
        make(monkeypatch, **ENTRA, **server, postgres_auth="password", postgres_password="pw"), []
    )
    assert (local.entra, local.password, local.sslmode) == (None, "pw", "require")
    assert "pw" not in repr(local)

"""The render -> service contract: every example, and a matrix of spec options, starts as a pod would.

Each case renders the ChatApplication, runs the stable Deployment's pod with the kubelet of conftest.py
(`chatfleet serve` and the init containers as real processes, from the rendered objects only), then checks
/healthz and that /config reports what the spec asked for. Expected values come from the spec and the
prompt files, not from the rendered ConfigMap, so a setting lost on the way fails here.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chatfleet.controller.loading import load_applications
from chatfleet.controller.render import render
from chatfleet.controller.spec import ChatApplication
from chatfleet.paths import EXAMPLES_DIR
from chatfleet.prompts.templates import SHIPPED_DIR, version_key
from tests.helpers.postgres import APP_USER, PostgresServer

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
DUMMY_APP_INSIGHTS = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/"
)

ANSWER = """id: answer
version: "{version}"
kind: chat
variables: [question, sources]
system: Answer from the sources only, citing [id]. ({version})
user: "${{question}}\\n\\nSources:\\n${{sources}}"
"""
REWRITE_V2 = """id: query_rewrite
version: "2"
kind: chat
variables: [question]
system: Write one search query.
user: "${question}"
"""


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def secret(name: str, values: dict[str, str], namespace: str) -> dict[str, Any]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def config_map(name: str, data: dict[str, str], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def cluster_for(app: ChatApplication, extra: list[dict[str, Any]], cluster_type: Any) -> Any:
    """The namespace: the example's own objects, the rendered children, and the Secrets it references
    (created here with dummy values, as an app team creates them)."""
    cluster = cluster_type()
    for obj in [*extra, *render(app)]:
        if obj.get("kind") != "ChatApplication":
            cluster.add(obj)
    obs = app.spec.observability
    if obs.app_insights_secret_ref:
        cluster.add(
            secret(
                obs.app_insights_secret_ref,
                {obs.app_insights_secret_key: DUMMY_APP_INSIGHTS},
                app.metadata.namespace,
            )
        )
    return cluster


def expected_prompts(app: ChatApplication, objects: list[dict[str, Any]]) -> dict[str, str]:
    """Newest version per id over the shipped files and the app's ConfigMap, then the spec's pins."""
    files = [p.read_text() for p in SHIPPED_DIR.glob("*.yaml")]
    if app.spec.prompts:
        (cm,) = (
            o
            for o in objects
            if o["kind"] == "ConfigMap" and o["metadata"]["name"] == app.spec.prompts.config_map_ref
        )
        files += list(cm["data"].values())
    versions: dict[str, list[str]] = {}
    for text in files:
        doc = yaml.safe_load(text)
        versions.setdefault(doc["id"], []).append(str(doc["version"]))
    chosen = {pid: max(vs, key=version_key) for pid, vs in versions.items()}
    return dict(sorted((chosen | (app.spec.prompts.pins if app.spec.prompts else {})).items()))


def check_config(url: str, app: ChatApplication, objects: list[dict[str, Any]]) -> None:
    assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    config = httpx.get(url + "/config", timeout=5).json()
    spec = app.spec
    assert config["dev_mode"] is False
    assert config["auth"]["mode"] == "entra" and config["auth"]["enabled"] is True
    assert "tenants" not in config["auth"], "anonymous /config must not name the served tenants"
    sign_in = spec.auth.sign_in
    assert config["auth"]["client_id"] == (sign_in.client_id if sign_in else None)
    assert config["auth"]["authority"] == spec.auth.sign_in_authority()
    assert config["auth"]["scopes"] == spec.auth.sign_in_scopes()
    assert config["features"]["semantic_ranker"] is (spec.search is not None)
    assert config["defaults"]["top"] == (spec.search.top if spec.search else 5)
    assert config["defaults"]["retrieval_mode"] == (spec.search.mode if spec.search else "hybrid")
    assert config["prompts"] == expected_prompts(app, objects)
    guards_mode = {"local": "local", "promptShields": "prompt_shields"}[spec.guards.mode]
    assert config["features"]["guards"] == guards_mode
    assert config["features"]["query_rewrite"] == spec.retrieval.query_rewrite
    assert config["features"]["embedder"] == spec.retrieval.embedder
    assert config["features"]["content_logging"] is spec.observability.log_content
    assert config["defaults"]["minimum_relevance"] == spec.retrieval.minimum_relevance
    assert config["features"]["semantic_cache"] is spec.semantic_cache.enabled
    assert config["limits"]["tenant_tokens_per_minute"] == spec.budgets.tenant_tokens_per_minute
    assert "tenant_token_overrides" not in config["limits"], "overrides would name the served tenants"
    assert config["answers"] == {
        "uncited": spec.answers.uncited,
        "link_hosts": spec.answers.link_hosts,
        "quality_sample_rate": spec.answers.quality_sample_rate,
    }


def stable_pod_spec(app: ChatApplication) -> dict[str, Any]:
    deployment = next(c for c in render(app) if c["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_starts_and_serves_its_spec(example: Path, start_pods: Any, cluster_type: Any) -> None:
    objects = documents(example)
    for app in load_applications(example.read_text()):
        (pod,) = start_pods(stable_pod_spec(app), cluster_for(app, objects, cluster_type))
        check_config(pod.url, app, objects)
        assert httpx.get(pod.url + "/metrics", timeout=5).status_code == 404
        assert "chatfleet_inflight_streams" in httpx.get(pod.metrics_url, timeout=5).text


def minimal(**spec: Any) -> ChatApplication:
    (base,) = (d for d in documents(EXAMPLES_DIR / "minimal.yaml") if d["kind"] == "ChatApplication")
    body = copy.deepcopy(base)
    body["spec"] |= spec
    return ChatApplication.model_validate(body)


DOCS = config_map(
    "handbook",
    {
        "vpn.md": "# VPN\n\nThe VPN client reconnects with error code 809 when UDP 500 is blocked.\n",
        "printers.txt": "Printers on floor 3 need the PCL6 driver.\n",
    },
)
PROMPTS = config_map(
    "prompts",
    {
        # The app team's own versions (the library ships answer@1 and @2; an id@version is immutable).
        "answer.v11.yaml": ANSWER.format(version="11"),
        "answer.v12.yaml": ANSWER.format(version="12"),
        "query_rewrite.v2.yaml": REWRITE_V2,
    },
)
MATRIX: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "azure-search": (
        {
            "search": {
                "endpoint": "https://search.example.windows.net",
                "index": "docs",
                "mode": "text",
                "top": 7,
            }
        },
        [],
    ),
    "local-documents": ({"documents": [{"configMapRef": "handbook", "tenant": "contoso"}]}, [DOCS]),
    "prompts-pinned": ({"prompts": {"configMapRef": "prompts", "pins": {"answer": "11"}}}, [PROMPTS]),
    "prompts-newest": ({"prompts": {"configMapRef": "prompts"}}, [PROMPTS]),
    "auth-oid-tenants": (
        {
            "auth": {
                "issuer": "https://login.microsoftonline.com/t/v2.0",
                "audience": "api://x",
                "tenantClaim": "oid",
            },
            "tenants": ["contoso", "fabrikam"],
        },
        [],
    ),
    "auth-sign-in": (
        {
            "auth": {
                "issuer": "https://login.microsoftonline.com/t/v2.0",
                "audience": "api://x",
                "signIn": {"clientId": "spa"},
            }
        },
        [],
    ),
    "auth-sign-in-oidc": (
        {
            "auth": {
                "issuer": "https://login.microsoftonline.com/t/v2.0",
                "audience": "api://x",
                "signIn": {
                    "clientId": "spa",
                    "authority": "https://idp.contoso.com/realms/chat",
                    "scopes": ["chat"],
                },
            }
        },
        [],
    ),
    "observability-otlp": ({"observability": {"otlpEndpoint": "http://otel.monitoring.svc:4317"}}, []),
    "observability-app-insights": (
        {"observability": {"appInsightsSecretRef": "ai", "appInsightsSecretKey": "cs"}},
        [],
    ),
    "observability-off": ({"observability": {}}, []),
    "guards-prompt-shields": (
        {"guards": {"mode": "promptShields", "contentSafetyEndpoint": "https://cs.cognitiveservices.azure.com"}},
        [],
    ),
    "budgets-overrides": (
        {
            "tenants": ["contoso", "fabrikam"],
            "budgets": {
                "tenantTokensPerMinute": 50000,
                "tenantOverrides": {"contoso": 400000, "fabrikam": 0},
            },
        },
        [],
    ),
    "retrieval-settings": (
        {"retrieval": {"queryRewrite": "never", "minimumRelevance": 0.25, "embedder": "minilm"}},
        [],
    ),
    "content-logging": ({"observability": {"logContent": True}}, []),
    "answers": (
        {
            "answers": {
                "uncited": "replace",
                "linkHosts": ["docs.contoso.com", "*.fabrikam.com"],
                "qualitySampleRate": 0.5,
            }
        },
        [],
    ),
    "semantic-cache": ({"semanticCache": {"enabled": True, "threshold": 0.97, "ttl": "4h"}}, []),
}


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_spec_options_start_and_serve_their_spec(case: str, start_pods: Any, cluster_type: Any) -> None:
    patch, objects = MATRIX[case]
    app = minimal(**patch)
    (pod,) = start_pods(stable_pod_spec(app), cluster_for(app, objects, cluster_type))
    check_config(pod.url, app, objects)


def test_replicas_each_build_their_own_index(start_pods: Any, cluster_type: Any) -> None:
    """Several replicas share nothing: each pod's init container fills its own emptyDir."""
    app = minimal(
        scaling={"minReplicas": 3, "maxReplicas": 5},
        documents=[{"configMapRef": "handbook", "tenant": "contoso"}],
    )
    pods = start_pods(stable_pod_spec(app), cluster_for(app, [DOCS], cluster_type), count=2)
    assert pods[0].volumes["index"] != pods[1].volumes["index"]
    for pod in pods:
        check_config(pod.url, app, [DOCS])
        assert (pod.volumes["index"] / "index.sqlite").stat().st_size > 0


def test_a_missing_referenced_config_map_stops_the_pod(start_pods: Any, cluster_type: Any) -> None:
    """The harness refuses what a kubelet refuses, so a passing case means something."""
    app = minimal(documents=[{"configMapRef": "handbook", "tenant": "contoso"}])
    with pytest.raises(AssertionError, match="ConfigMap handbook not found"):
        start_pods(stable_pod_spec(app), cluster_for(app, [], cluster_type))


def test_history_and_budgets_on_postgres_start_every_replica_on_one_database(
    start_pods: Any, cluster_type: Any, postgres: PostgresServer
) -> None:
    """history.store and budgets.store postgres with password auth from a Secret: two pods start at once,
    migrate the one database once between them, and keep history."""
    database = postgres.database()
    app = minimal(
        scaling={"minReplicas": 2, "maxReplicas": 4},
        history={"store": "postgres"},
        budgets={"store": "postgres", "storeFailure": "closed"},
        postgres={
            "host": postgres.host,
            "port": postgres.port,
            "database": database,
            "user": APP_USER,
            "auth": "password",
            "passwordSecretRef": "chat-db",
            "sslmode": "disable",
        },
    )
    cluster = cluster_for(app, [], cluster_type)
    cluster.add(secret("chat-db", {"password": postgres.app_password}, app.metadata.namespace))
    pods = start_pods(stable_pod_spec(app), cluster, count=2)
    for pod in pods:
        check_config(pod.url, app, [])
        assert httpx.get(pod.url + "/config", timeout=5).json()["features"]["history"] is True
    with postgres.admin(database) as conn:
        components = conn.execute("SELECT component FROM chatfleet_schema ORDER BY 1").fetchall()
    assert components == [("budget",), ("history",)]

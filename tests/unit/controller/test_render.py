"""render() is pure and produces hardened, labelled, owner-referenced children."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatfleet.contracts.resource import API_VERSION, KIND
from chatfleet.controller import naming as n
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import config_data, render, revision
from chatfleet.controller.spec import (
    DEFAULT_STREAMS_PER_REPLICA,
    ChatApplication,
    DocumentSource,
    ScalingStatus,
)


@pytest.fixture
def app(make_app) -> ChatApplication:
    doc = make_app(
        {
            "metadata": {"name": "support-bot", "namespace": "team-a", "uid": "u-1", "generation": 1},
            "spec": {
                "tenants": ["contoso", "fabrikam"],
                "search": {"endpoint": "https://s.search.windows.net", "index": "docs"},
                "prompts": {"configMapRef": "support-prompts", "pins": {"answer": "3"}},
                "network": {"ingressFrom": [{"namespaceSelector": {"matchLabels": {"team": "ingress"}}}]},
                "observability": {
                    "otlpEndpoint": "http://otel.monitoring.svc:4317",
                    "appInsightsSecretRef": "ai",
                },
            },
        }
    )
    return parse_application(doc)


def by_kind(children: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c for c in children if c["kind"] == kind]


def one(children: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = by_kind(children, kind)
    return found


def test_children_are_complete_labelled_and_owned(app: ChatApplication) -> None:
    children = render(app)
    kinds = [c["kind"] for c in children]
    assert kinds == [
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ]
    for child in children:
        meta = child["metadata"]
        assert meta["namespace"] == "team-a"
        assert meta["labels"][n.MANAGED_BY] == n.FIELD_MANAGER
        assert meta["labels"][n.INSTANCE] == "support-bot"
        (owner,) = meta["ownerReferences"]
        assert owner == {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": "support-bot",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }


def test_render_is_deterministic(app: ChatApplication) -> None:
    assert render(app) == render(app.model_copy(deep=True))


def test_service_account_carries_workload_identity(app: ChatApplication) -> None:
    sa = one(render(app), "ServiceAccount")
    assert sa["metadata"]["annotations"][n.WORKLOAD_IDENTITY_CLIENT_ID] == app.spec.identity.client_id


def test_pod_is_restricted_and_drains_gracefully(app: ChatApplication) -> None:
    deployment = one(render(app), "Deployment")
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"][n.WORKLOAD_IDENTITY_USE] == "true"
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"][0]["containerPort"] == 8000
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert spec["terminationGracePeriodSeconds"] > container["lifecycle"]["preStop"]["sleep"]["seconds"] + 30
    assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert "replicas" not in deployment["spec"], "the HPA owns the stable replica count"


def test_pod_template_annotation_is_the_revision(app: ChatApplication) -> None:
    children = render(app)
    rev = revision("support-bot", app.spec)
    pod = one(children, "Deployment")["spec"]["template"]
    assert pod["metadata"]["annotations"][n.REVISION] == rev
    config = one(children, "ConfigMap")
    assert config["metadata"]["name"] == f"support-bot-{rev}"
    assert pod["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": f"support-bot-{rev}"}}]


def test_revision_follows_the_pod_not_the_autoscaler(app: ChatApplication) -> None:
    rev = revision("support-bot", app.spec)
    scaled = app.spec.model_copy(update={"scaling": app.spec.scaling.model_copy(update={"max_replicas": 50})})
    assert revision("support-bot", scaled) == rev
    new_image = app.spec.model_copy(update={"image": "registry.example/chat:2.0.0"})
    assert revision("support-bot", new_image) != rev
    more_tenants = app.spec.model_copy(update={"tenants": ["contoso"]})
    assert revision("support-bot", more_tenants) != rev, "settings changes are revisions too"


def test_config_map_is_what_the_chat_service_reads(app: ChatApplication, monkeypatch) -> None:
    from chatfleet.chat.config import Settings

    data = config_data("support-bot", app.spec)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=k")  # secretKeyRef env
    settings = Settings(_env_file=None)
    assert settings.auth_mode == "entra"
    assert settings.auth_issuer == app.spec.auth.issuer
    assert settings.tenants == ["contoso", "fabrikam"]
    assert settings.openai_deployments[0].endpoint == app.spec.openai.deployments[0].endpoint
    assert settings.search_backend == "azure" and settings.search_index == "docs"
    assert settings.otel_exporters == ["otlp", "azure_monitor"]
    assert str(settings.prompts_dir) == n.PROMPTS_DIR


def test_secrets_stay_out_of_the_config_map(app: ChatApplication) -> None:
    children = render(app)
    config = one(children, "ConfigMap")
    assert not any("CONNECTION_STRING" in key for key in config["data"])
    env = one(children, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env}
    assert refs["APPLICATIONINSIGHTS_CONNECTION_STRING"] == {"name": "ai", "key": "connectionString"}


def test_prompts_config_map_is_mounted(app: ChatApplication) -> None:
    pod = one(render(app), "Deployment")["spec"]["template"]["spec"]
    assert {"name": "prompts", "configMap": {"name": "support-prompts"}} in pod["volumes"]
    data = one(render(app), "ConfigMap")["data"]
    assert json.loads(data["CHATFLEET_PROMPT_VERSIONS"]) == {"answer": "3"}, "ids not pinned take the newest"


def test_without_search_each_pod_ingests_its_documents_before_serving(app: ChatApplication) -> None:
    spec = app.spec.model_copy(
        update={"search": None, "documents": [DocumentSource(config_map_ref="docs", tenant="contoso")]}
    )
    local = app.model_copy(update={"spec": spec})
    pod = one(render(local), "Deployment")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["args"] == ["ingest", f"{n.DOCUMENTS_DIR}/0", "--tenant", "contoso"]
    assert init["image"] == spec.image and init["envFrom"] == pod["containers"][0]["envFrom"]
    assert {"name": "index", "emptyDir": {"sizeLimit": "1Gi"}} in pod["volumes"]
    assert one(render(local), "ConfigMap")["data"]["CHATFLEET_INDEX_PATH"] == n.INDEX_PATH
    sample = app.model_copy(update={"spec": spec.model_copy(update={"documents": []})})
    (init,) = one(render(sample), "Deployment")["spec"]["template"]["spec"]["initContainers"]
    assert init["args"] == ["ingest-sample"]


def test_trust_bundle_is_mounted_and_replaces_the_roots(app: ChatApplication, make_app) -> None:
    doc = make_app({"spec": {"trustBundle": {"configMapRef": "corp-ca", "key": "bundle.pem"}}})
    trusted = parse_application(doc)
    pod = one(render(trusted), "Deployment")["spec"]["template"]["spec"]
    volume = {
        "name": "trust-bundle",
        "configMap": {"name": "corp-ca", "items": [{"key": "bundle.pem", "path": "ca.crt"}]},
    }
    assert volume in pod["volumes"]
    assert {"name": "trust-bundle", "mountPath": n.TRUST_DIR, "readOnly": True} in pod["containers"][0][
        "volumeMounts"
    ]
    assert (
        one(render(trusted), "ConfigMap")["data"]["SSL_CERT_FILE"] == n.TRUST_FILE == f"{n.TRUST_DIR}/ca.crt"
    )
    assert "SSL_CERT_FILE" not in one(render(app), "ConfigMap")["data"]
    assert revision("a", trusted.spec) != revision("a", app.spec)


def test_referenced_content_is_part_of_the_revision(app: ChatApplication) -> None:
    assert revision("a", app.spec, "digest-1") != revision("a", app.spec, "digest-2")
    template = one(render(app, "digest-1"), "Deployment")["spec"]["template"]
    assert template["metadata"]["annotations"][n.INPUTS_DIGEST] == "digest-1"


def test_network_policy_denies_by_default(app: ChatApplication) -> None:
    policy = one(render(app), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ingress, metrics = policy["ingress"]
    assert {"namespaceSelector": {"matchLabels": {"team": "ingress"}}} in ingress["from"]
    assert {"podSelector": {"matchLabels": {n.LOADTEST_FOR: "support-bot"}}} in ingress["from"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert metrics == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"protocol": "TCP", "port": n.METRICS_PORT}],
    }
    egress_ports = {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}
    assert egress_ports == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 4317)}
    assert all("to" not in rule for rule in policy["egress"])


def test_egress_cidrs_scope_443_and_leave_other_ports_alone(make_app) -> None:
    doc = make_app(
        {
            "spec": {
                "network": {"egressCidrs": ["10.20.0.0/24", "fd00::/64"]},
                "observability": {"otlpEndpoint": "http://otel.monitoring.svc:4317"},
            }
        }
    )
    policy = one(render(parse_application(doc)), "NetworkPolicy")["spec"]
    (https,) = [r for r in policy["egress"] if {"protocol": "TCP", "port": 443} in r["ports"]]
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    assert https["to"] == [{"ipBlock": {"cidr": "10.20.0.0/24"}}, {"ipBlock": {"cidr": "fd00::/64"}}]
    (otlp,) = [r for r in policy["egress"] if {"protocol": "TCP", "port": 4317} in r["ports"]]
    assert "to" not in otlp


def test_in_cluster_http_upstream_opens_its_port(make_app) -> None:
    doc = make_app(
        {
            "spec": {
                "openai": {
                    "deployments": [{"name": "sim", "endpoint": "http://sim.dev.svc:8080", "deployment": "d"}]
                }
            }
        }
    )
    policy = one(render(parse_application(doc)), "NetworkPolicy")["spec"]
    assert ("TCP", 8080) in {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}


def test_hpa_scales_on_streams_with_ttft_guard(app: ChatApplication) -> None:
    hpa = one(render(app), "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    metrics = {m["pods"]["metric"]["name"]: m["pods"]["target"] for m in hpa["metrics"]}
    assert metrics["chatfleet_inflight_streams"] == {
        "type": "AverageValue",
        "averageValue": str(DEFAULT_STREAMS_PER_REPLICA),
    }
    assert metrics["chatfleet_ttft_p95_seconds"]["averageValue"] == "1200m"
    up, down = hpa["behavior"]["scaleUp"], hpa["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0 and up["selectPolicy"] == "Max"
    assert down["stabilizationWindowSeconds"] == 300
    assert down["policies"] == [{"type": "Percent", "value": 10, "periodSeconds": 60}]
    app.spec.scaling.scale_down_stabilization_seconds = 30  # tests and the local stack shorten it
    assert one(render(app), "HorizontalPodAutoscaler")["spec"]["behavior"]["scaleDown"][
        "stabilizationWindowSeconds"
    ] == 30


def test_hpa_target_prefers_spec_then_calibration(app: ChatApplication) -> None:
    app.status.scaling = ScalingStatus(streams_per_replica=13, source="calibrated")
    hpa = one(render(app), "HorizontalPodAutoscaler")["spec"]
    assert hpa["metrics"][0]["pods"]["target"]["averageValue"] == "13"
    app.spec.scaling.streams_per_replica = 21
    hpa = one(render(app), "HorizontalPodAutoscaler")["spec"]
    assert hpa["metrics"][0]["pods"]["target"]["averageValue"] == "21"


def test_whole_second_ttft_target_uses_canonical_quantity(make_app) -> None:
    app = parse_application(make_app({"spec": {"scaling": {"ttftP95TargetMs": 2000}}}))
    hpa = one(render(app), "HorizontalPodAutoscaler")["spec"]
    assert hpa["metrics"][1]["pods"]["target"]["averageValue"] == "2"


def test_gate_adds_a_canary_plane_and_stable_keeps_the_promoted_spec(app: ChatApplication) -> None:
    promoted = app.spec.model_dump(by_alias=True, mode="json")
    app.spec.image = "registry.example/chat:2.0.0"
    candidate = revision("support-bot", app.spec)
    app.status.revision.stable_spec = promoted
    app.status.revision.candidate = candidate
    app.status.rollout.phase = "Testing"
    children = render(app)
    deployments = {d["metadata"]["name"]: d for d in by_kind(children, "Deployment")}
    stable_image = deployments["support-bot"]["spec"]["template"]["spec"]["containers"][0]["image"]
    canary = deployments["support-bot-canary"]
    assert stable_image == "registry.example/chat:1.0.0"
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:2.0.0"
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["template"]["metadata"]["annotations"][n.REVISION] == candidate
    services = {s["metadata"]["name"]: s for s in by_kind(children, "Service")}
    assert services["support-bot-canary"]["spec"]["selector"][n.TRACK] == "canary"
    assert services["support-bot"]["spec"]["selector"][n.TRACK] == "stable"
    assert len(by_kind(children, "ConfigMap")) == 2


def test_without_uid_no_owner_reference(make_app) -> None:
    children = render(parse_application(make_app()))
    assert all("ownerReferences" not in c["metadata"] for c in children)


def test_history_is_off_unless_the_app_opts_in(make_app) -> None:
    default = one(render(parse_application(make_app())), "ConfigMap")["data"]
    assert default["CHATFLEET_HISTORY_ENABLED"] == "false"
    assert "CHATFLEET_HISTORY_STORE" not in default
    single = make_app(
        {
            "spec": {
                "history": {"store": "sqlite", "retentionDays": 7},
                "scaling": {"minReplicas": 1, "maxReplicas": 1},
            }
        }
    )
    data = one(render(parse_application(single)), "ConfigMap")["data"]
    assert data["CHATFLEET_HISTORY_ENABLED"] == "true"
    assert (data["CHATFLEET_HISTORY_STORE"], data["CHATFLEET_HISTORY_RETENTION_DAYS"]) == ("sqlite", "7")


def test_postgres_is_rendered_with_its_password_from_the_secret_and_its_port_opened(make_app) -> None:
    doc = make_app(
        {
            "spec": {
                "history": {"store": "postgres"},
                "budgets": {"store": "postgres", "storeFailure": "closed"},
                "postgres": {
                    "host": "chat-db.postgres.database.azure.com",
                    "database": "chat",
                    "user": "support-bot-identity",
                },
            }
        }
    )
    children = render(parse_application(doc))
    data = one(children, "ConfigMap")["data"]
    assert {k: v for k, v in data.items() if k.startswith("CHATFLEET_POSTGRES_")} == {
        "CHATFLEET_POSTGRES_HOST": "chat-db.postgres.database.azure.com",
        "CHATFLEET_POSTGRES_PORT": "5432",
        "CHATFLEET_POSTGRES_DATABASE": "chat",
        "CHATFLEET_POSTGRES_USER": "support-bot-identity",
        "CHATFLEET_POSTGRES_AUTH": "entra",
        "CHATFLEET_POSTGRES_SSLMODE": "require",
    }
    assert data["CHATFLEET_HISTORY_STORE"] == "postgres"
    assert (data["CHATFLEET_BUDGET_STORE"], data["CHATFLEET_BUDGET_STORE_FAILURE"]) == ("postgres", "closed")
    policy = one(children, "NetworkPolicy")["spec"]
    assert {"protocol": "TCP", "port": 5432} in [p for rule in policy["egress"] for p in rule["ports"]]
    (container,) = one(children, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert all(e["name"] != "CHATFLEET_POSTGRES_PASSWORD" for e in container.get("env", []))

    doc["spec"]["postgres"] |= {"auth": "password", "passwordSecretRef": "chat-db"}
    children = render(parse_application(doc))
    (container,) = one(children, "Deployment")["spec"]["template"]["spec"]["containers"]
    ref = {"secretKeyRef": {"name": "chat-db", "key": "password"}}
    assert {"name": "CHATFLEET_POSTGRES_PASSWORD", "valueFrom": ref} in container["env"]
    assert "CHATFLEET_POSTGRES_PASSWORD" not in one(children, "ConfigMap")["data"]


def test_semantic_cache_is_off_unless_the_app_opts_in(make_app) -> None:
    default = one(render(parse_application(make_app())), "ConfigMap")["data"]
    assert not any(key.startswith("CHATFLEET_SEMANTIC_CACHE_") for key in default)
    app = make_app(
        {
            "spec": {
                "semanticCache": {"enabled": True, "threshold": 0.97, "ttl": "4h", "maxEntries": 500},
                "search": {
                    "endpoint": "https://s.search.windows.net",
                    "index": "kb",
                    "indexVersion": "2026-12",
                },
            }
        }
    )
    data = one(render(parse_application(app)), "ConfigMap")["data"]
    assert {k: v for k, v in data.items() if k.startswith("CHATFLEET_SEMANTIC_CACHE_")} == {
        "CHATFLEET_SEMANTIC_CACHE_ENABLED": "true",
        "CHATFLEET_SEMANTIC_CACHE_THRESHOLD": "0.97",
        "CHATFLEET_SEMANTIC_CACHE_TTL_S": "14400",
        "CHATFLEET_SEMANTIC_CACHE_MAX_ENTRIES": "500",
        "CHATFLEET_SEMANTIC_CACHE_STORE": "memory",
    }
    assert data["CHATFLEET_SEARCH_INDEX_VERSION"] == "2026-12"


def test_a_shared_semantic_cache_is_rendered_with_the_postgres_server(make_app) -> None:
    server = {"host": "chat-db.postgres.database.azure.com", "database": "chat", "user": "support-bot"}
    app = make_app({"spec": {"semanticCache": {"enabled": True, "store": "postgres"}, "postgres": server}})
    children = render(parse_application(app))
    data = one(children, "ConfigMap")["data"]
    assert data["CHATFLEET_SEMANTIC_CACHE_STORE"] == "postgres"
    assert data["CHATFLEET_POSTGRES_HOST"] == server["host"], "rendered for the cache alone"
    policy = one(children, "NetworkPolicy")["spec"]
    assert {"protocol": "TCP", "port": 5432} in [p for rule in policy["egress"] for p in rule["ports"]]


def test_metrics_port_is_on_the_pods_and_the_metrics_service_only(app: ChatApplication) -> None:
    children = render(app)
    (container,) = one(children, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert {"name": "metrics", "containerPort": n.METRICS_PORT, "protocol": "TCP"} in container["ports"]
    services = {s["metadata"]["name"]: s for s in by_kind(children, "Service")}
    assert [p["name"] for p in services["support-bot"]["spec"]["ports"]] == ["http"]
    metrics = services["support-bot-metrics"]
    assert metrics["metadata"]["labels"][n.COMPONENT] == "metrics"
    assert metrics["spec"]["clusterIP"] == "None"
    assert n.TRACK not in metrics["spec"]["selector"], "stable and canary pods are both scraped"
    assert metrics["spec"]["ports"] == [
        {"name": "metrics", "port": n.METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert one(children, "ConfigMap")["data"]["CHATFLEET_METRICS_PORT"] == str(n.METRICS_PORT)


def test_metrics_peers_from_the_spec_and_none_means_closed(make_app) -> None:
    peer = {"namespaceSelector": {"matchLabels": {"team": "observability"}}}
    custom = parse_application(make_app({"spec": {"network": {"metricsFrom": [peer]}}}))
    assert one(render(custom), "NetworkPolicy")["spec"]["ingress"][1]["from"] == [peer]
    closed = parse_application(make_app({"spec": {"network": {"metricsFrom": []}}}))
    (only,) = one(render(closed), "NetworkPolicy")["spec"]["ingress"]
    assert only["ports"] == [{"protocol": "TCP", "port": n.CHAT_PORT}], "an empty `from` would admit all"


def test_scope_role_and_rate_limit_fields_reach_the_service_settings(make_app) -> None:
    from chatfleet.chat.config import Settings

    doc = make_app(
        {
            "spec": {
                "auth": {"requiredScopes": ["Chat.Use"], "requiredRoles": ["Chat.User", "Chat.Gate"]},
                "rateLimit": {"userRequestsPerMinute": 30},
            }
        }
    )
    data = config_data("bot", parse_application(doc).spec)
    wanted = ("AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_REQUIRED_SCOPES", "AUTH_REQUIRED_ROLES")
    settings = Settings.model_validate(
        {name.lower(): data[f"CHATFLEET_{name}"] for name in wanted}
        | {"user_requests_per_minute": data["CHATFLEET_USER_REQUESTS_PER_MINUTE"]}
    )
    assert settings.auth_required_scopes == ["Chat.Use"]
    assert settings.auth_required_roles == ["Chat.User", "Chat.Gate"]
    assert settings.user_requests_per_minute == 30
    plain = config_data("bot", parse_application(make_app({})).spec)
    assert not {"CHATFLEET_AUTH_REQUIRED_SCOPES", "CHATFLEET_USER_REQUESTS_PER_MINUTE"} & plain.keys()


def test_ingress_entry_is_https_and_streaming_safe(make_app) -> None:
    doc = make_app(
        {
            "spec": {
                "exposure": {
                    "host": "support.contoso.com",
                    "ingress": {
                        "className": "webapprouting.kubernetes.azure.com",
                        "certManagerClusterIssuer": "letsencrypt",
                    },
                }
            }
        }
    )
    app = parse_application(doc)
    ingress = one(render(app), "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 120
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "webapprouting.kubernetes.azure.com"
    name = app.metadata.name
    assert spec["tls"] == [{"hosts": ["support.contoso.com"], "secretName": f"{name}-tls"}]
    (path,) = spec["rules"][0]["http"]["paths"]
    assert path["backend"]["service"] == {"name": n.stable_name(name), "port": {"name": "http"}}
    policy = one(render(app), "NetworkPolicy")["spec"]
    controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "app-routing-system"}}}
    assert controller in policy["ingress"][0]["from"]
    assert not [c for c in render(app) if c["kind"] == "HTTPRoute"]


def test_gateway_entry_is_an_httproute_to_the_stable_service(make_app) -> None:
    doc = make_app(
        {
            "spec": {
                "exposure": {
                    "host": "support.contoso.com",
                    "gateway": {
                        "parentRef": {"name": "public", "namespace": "gateways", "sectionName": "https"}
                    },
                    "controllerNamespace": "gateways",
                }
            }
        }
    )
    app = parse_application(doc)
    route = one(render(app), "HTTPRoute")["spec"]
    assert route["parentRefs"][0]["name"] == "public" and route["parentRefs"][0]["sectionName"] == "https"
    assert route["hostnames"] == ["support.contoso.com"]
    (rule,) = route["rules"]
    assert rule["backendRefs"] == [{"name": n.stable_name(app.metadata.name), "port": n.CHAT_PORT}]
    assert rule["timeouts"]["request"] == "300s"
    assert not [c for c in render(app) if c["kind"] == "Ingress"]


def test_no_exposure_no_entry(app: ChatApplication) -> None:
    assert not [c for c in render(app) if c["kind"] in ("Ingress", "HTTPRoute")]


def test_sign_in_fields_reach_the_page_settings(make_app) -> None:
    from chatfleet.chat.config import Settings

    def page_settings(sign_in: dict[str, Any]) -> Settings:
        data = config_data("bot", parse_application(make_app({"spec": {"auth": {"signIn": sign_in}}})).spec)
        wanted = ("AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_CLIENT_ID", "AUTH_AUTHORITY", "AUTH_SCOPES")
        return Settings.model_validate({name.lower(): data[f"CHATFLEET_{name}"] for name in wanted})

    derived = page_settings({"clientId": "5b1f0c2e-spa"})
    assert derived.auth_client_id == "5b1f0c2e-spa"
    # The base issuer is Entra's v2 issuer https://login.microsoftonline.com/<tid>/v2.0: its tenant authority.
    assert derived.auth_authority == "https://login.microsoftonline.com/t"
    assert derived.auth_scopes == ["api://cel-case/.default"]
    given = page_settings(
        {
            "clientId": "spa",
            "authority": "https://idp.contoso.com/realms/chat",
            "scopes": ["api://bot/Chat.Use"],
        }
    )
    assert (given.auth_authority, given.auth_scopes) == (
        "https://idp.contoso.com/realms/chat",
        ["api://bot/Chat.Use"],
    )
    plain = config_data("bot", parse_application(make_app({})).spec)
    assert (
        not {"CHATFLEET_AUTH_CLIENT_ID", "CHATFLEET_AUTH_AUTHORITY", "CHATFLEET_AUTH_SCOPES"} & plain.keys()
    )

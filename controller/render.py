"""The pure core of the operator: a ChatApplication in, the Kubernetes objects it should own out.

No I/O and no clock: the same input always renders the same output, which makes every child reviewable
(`chatfleet render`), unit-testable in milliseconds, and cheap to compare with the live objects. The gated
rollout only shows up through the resource's status: the stable Deployment is rendered from
`status.revision.stableSpec` (the promoted spec) and a canary plane is added while a gate is testing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from chatfleet.contracts.resource import API_VERSION, KIND
from chatfleet.controller import naming as n
from chatfleet.controller.cel import parse_duration
from chatfleet.controller.spec import (
    DEFAULT_STREAMS_PER_REPLICA,
    ChatApplication,
    ChatApplicationSpec,
)

Manifest = dict[str, Any]

PRESTOP_SLEEP_SECONDS = 5
SHUTDOWN_GRACE_SECONDS = 30
TERMINATION_GRACE_SECONDS = PRESTOP_SLEEP_SECONDS + SHUTDOWN_GRACE_SECONDS + 10
RUN_AS_USER = 10001
OTLP_DEFAULT_PORT = 4317
GUARDS_MODES = {"local": "local", "promptShields": "prompt_shields"}  # spec spelling -> service setting


def _meta(app: ChatApplication, name: str, component: str = "chat", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": app.metadata.namespace,
        "labels": {**n.common_labels(app.metadata.name, component), **labels},
    }
    if app.metadata.uid:
        meta["ownerReferences"] = [owner_reference(app)]
    return meta


def owner_reference(app: ChatApplication) -> dict[str, Any]:
    """Controller owner reference: the garbage collector removes every child with the resource."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": app.metadata.name,
        "uid": app.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _port(url: str, default: int) -> int:
    parts = urlsplit(url)
    if parts.port:
        return parts.port
    return 443 if parts.scheme == "https" else default


def config_data(app_name: str, spec: ChatApplicationSpec, track: str = "stable") -> dict[str, str]:
    """Settings of the chat service under its own `CHATFLEET_*` names (see services/chat/config.py).

    Secrets never land here: the App Insights connection string comes from its Secret via secretKeyRef.
    The canary uses `spec.rollout.canaryDeployments` when set, so gate traffic spends no production quota.
    """
    pool = spec.rollout.canary_deployments if track == "canary" else None
    deployments = [
        {
            "name": d.name,
            "endpoint": d.endpoint,
            "deployment": d.deployment,
            "type": d.type,
            "priority": d.priority,
            "weight": d.weight,
            "apiVersion": d.api_version,
            **({"tokensPerMinute": d.budget.tokens_per_minute} if d.budget else {}),
        }
        for d in pool or spec.openai.deployments
    ]
    data = {
        "CHATFLEET_SERVICE_NAME": app_name,
        "CHATFLEET_AUTH_MODE": "entra",
        "CHATFLEET_AUTH_ISSUER": spec.auth.issuer,
        "CHATFLEET_AUTH_AUDIENCE": spec.auth.audience,
        "CHATFLEET_AUTH_TENANT_CLAIM": spec.auth.tenant_claim,
        "CHATFLEET_TENANTS": json.dumps(spec.tenants),
        "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(deployments, separators=(",", ":")),
        "CHATFLEET_SHUTDOWN_GRACE_S": str(SHUTDOWN_GRACE_SECONDS),
        # For the dashboards' TTFT panel: the gate's SLO and the HPA's scale-out point, per app.
        "CHATFLEET_SLO_TTFT_P95_MS": f"{spec.rollout.load_test.slo.ttft_p95_ms:g}",
        "CHATFLEET_HPA_TTFT_P95_TARGET_MS": str(spec.scaling.ttft_p95_target_ms),
        # Rendered either way: the service keeps history by default, an app opts in here.
        "CHATFLEET_HISTORY_ENABLED": str(spec.history.store != "none").lower(),
        "CHATFLEET_METRICS_PORT": str(n.METRICS_PORT),
    }
    if spec.history.store != "none":
        data |= {
            "CHATFLEET_HISTORY_STORE": spec.history.store,
            "CHATFLEET_HISTORY_RETENTION_DAYS": str(spec.history.retention_days),
        }
    if spec.postgres:
        data |= {
            "CHATFLEET_POSTGRES_HOST": spec.postgres.host,
            "CHATFLEET_POSTGRES_PORT": str(spec.postgres.port),
            "CHATFLEET_POSTGRES_DATABASE": spec.postgres.database,
            "CHATFLEET_POSTGRES_USER": spec.postgres.user,
            "CHATFLEET_POSTGRES_AUTH": spec.postgres.auth,
            "CHATFLEET_POSTGRES_SSLMODE": spec.postgres.sslmode,
        }
    if spec.semantic_cache.enabled:
        cache = spec.semantic_cache
        data |= {
            "CHATFLEET_SEMANTIC_CACHE_ENABLED": "true",
            "CHATFLEET_SEMANTIC_CACHE_THRESHOLD": f"{cache.threshold:g}",
            "CHATFLEET_SEMANTIC_CACHE_TTL_S": str(parse_duration(cache.ttl)),
            "CHATFLEET_SEMANTIC_CACHE_MAX_ENTRIES": str(cache.max_entries),
            "CHATFLEET_SEMANTIC_CACHE_STORE": cache.store,
        }
    if spec.auth.required_scopes:
        data["CHATFLEET_AUTH_REQUIRED_SCOPES"] = json.dumps(spec.auth.required_scopes)
    if spec.auth.required_roles:
        data["CHATFLEET_AUTH_REQUIRED_ROLES"] = json.dumps(spec.auth.required_roles)
    if spec.auth.sign_in:  # what the page's MSAL.js reads from /config
        data |= {
            "CHATFLEET_AUTH_CLIENT_ID": spec.auth.sign_in.client_id,
            "CHATFLEET_AUTH_AUTHORITY": spec.auth.sign_in_authority() or "",
            "CHATFLEET_AUTH_SCOPES": json.dumps(spec.auth.sign_in_scopes()),
        }
    if spec.rate_limit.user_requests_per_minute:
        data["CHATFLEET_USER_REQUESTS_PER_MINUTE"] = str(spec.rate_limit.user_requests_per_minute)
    if spec.search:
        data |= {
            "CHATFLEET_SEARCH_BACKEND": "azure",
            "CHATFLEET_SEARCH_ENDPOINT": spec.search.endpoint,
            "CHATFLEET_SEARCH_INDEX": spec.search.index,
            "CHATFLEET_DEFAULT_RETRIEVAL_MODE": spec.search.mode,
            "CHATFLEET_DEFAULT_TOP": str(spec.search.top),
            "CHATFLEET_MAX_TOP": str(max(spec.search.top, 10)),
            "CHATFLEET_DEFAULT_SEMANTIC_RANKER": str(spec.search.semantic_ranker).lower(),
        }
        if spec.search.index_version:
            data["CHATFLEET_SEARCH_INDEX_VERSION"] = spec.search.index_version
    else:
        # The init containers ingest into this file (they read the same ConfigMap), the service serves it.
        data |= {"CHATFLEET_SEARCH_BACKEND": "local", "CHATFLEET_INDEX_PATH": n.INDEX_PATH}
    if spec.trust_bundle:
        # OpenSSL's variable: httpx, the OpenAI SDK and azure-identity build their TLS context from it.
        data["SSL_CERT_FILE"] = n.TRUST_FILE
    if spec.prompts:
        data["CHATFLEET_PROMPTS_DIR"] = n.PROMPTS_DIR
        if spec.prompts.pins:
            data["CHATFLEET_PROMPT_VERSIONS"] = json.dumps(
                dict(sorted(spec.prompts.pins.items())), separators=(",", ":")
            )
    guards, budgets, retrieval = spec.guards, spec.budgets, spec.retrieval
    data["CHATFLEET_GUARDS_MODE"] = GUARDS_MODES[guards.mode]
    if guards.content_safety_endpoint:
        data["CHATFLEET_CONTENT_SAFETY_ENDPOINT"] = guards.content_safety_endpoint
    data["CHATFLEET_TENANT_TOKENS_PER_MINUTE"] = str(budgets.tenant_tokens_per_minute)
    if budgets.store == "postgres":
        data["CHATFLEET_BUDGET_STORE"] = "postgres"
        data["CHATFLEET_BUDGET_STORE_FAILURE"] = budgets.store_failure
    if budgets.tenant_overrides:
        data["CHATFLEET_TENANT_TOKEN_OVERRIDES"] = json.dumps(
            dict(sorted(budgets.tenant_overrides.items())), separators=(",", ":")
        )
    data |= {
        "CHATFLEET_QUERY_REWRITE": retrieval.query_rewrite,
        "CHATFLEET_MINIMUM_RELEVANCE": str(retrieval.minimum_relevance),
        "CHATFLEET_EMBEDDER": retrieval.embedder,
        "CHATFLEET_LOG_CONTENT": str(spec.observability.log_content).lower(),
        "CHATFLEET_UNCITED_ANSWER": spec.answers.uncited,
        "CHATFLEET_QUALITY_SAMPLE_RATE": str(spec.answers.quality_sample_rate),
    }
    if spec.answers.link_hosts:
        data["CHATFLEET_OUTPUT_LINK_HOSTS"] = ",".join(spec.answers.link_hosts)
    obs = spec.observability
    exporters = []
    if obs.otlp_endpoint:
        exporters.append("otlp")
        data["CHATFLEET_OTEL_ENDPOINT"] = obs.otlp_endpoint
    if obs.app_insights_secret_ref:
        exporters.append("azure_monitor")
    if exporters:
        data["CHATFLEET_OTEL_EXPORTERS"] = ",".join(exporters)  # both at once: one tracer provider
    return data


def _secret_env(spec: ChatApplicationSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    obs = spec.observability
    if obs.app_insights_secret_ref:
        ref = {"secretKeyRef": {"name": obs.app_insights_secret_ref, "key": obs.app_insights_secret_key}}
        # The standard name, which the chat service and Azure's SDKs both read.
        env.append({"name": "APPLICATIONINSIGHTS_CONNECTION_STRING", "valueFrom": ref})
    pg = spec.postgres
    if pg and pg.password_secret_ref:
        ref = {"secretKeyRef": {"name": pg.password_secret_ref, "key": pg.password_secret_key}}
        env.append({"name": "CHATFLEET_POSTGRES_PASSWORD", "valueFrom": ref})
    return env


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http", "scheme": "HTTP"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _ingest_containers(spec: ChatApplicationSpec, config: str, resources: dict[str, Any]) -> list[Manifest]:
    """Init containers that fill the pod's local index before the service starts (same image, embedder
    and CHATFLEET_INDEX_PATH from the settings ConfigMap): one per documents entry, or the sample corpus.

    Every replica builds its own copy in its emptyDir, so replicas share nothing and scale freely."""
    mounts = [
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - HOME of the image
        {"name": "index", "mountPath": n.INDEX_DIR},
    ]
    runs: list[tuple[str, list[str], list[dict[str, Any]]]] = []
    for i, source in enumerate(spec.documents):
        folder = f"{n.DOCUMENTS_DIR}/{i}"
        mount = {"name": f"documents-{i}", "mountPath": folder, "readOnly": True}
        runs.append((f"ingest-{i}", ["ingest", folder, "--tenant", source.tenant], [mount]))
    if not spec.documents:
        runs.append(("ingest-sample", ["ingest-sample"], []))
    return [
        {
            "name": name,
            "image": spec.image,
            "args": args,  # over the image's ENTRYPOINT `chatfleet`
            "envFrom": [{"configMapRef": {"name": config}}],
            "resources": resources,
            "securityContext": CONTAINER_SECURITY,
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": mounts + extra,
        }
        for name, args, extra in runs
    ]


def pod_template(
    app_name: str, spec: ChatApplicationSpec, track: str, config: str, revision: str, inputs_digest: str = ""
) -> Manifest:
    """The chat pod: restricted pod security, workload identity, probes, graceful drain, zone spread.

    `inputs_digest` hashes the content of the ConfigMaps the pod reads (prompts, documents), which the
    spec only names: an annotation, so a change in them makes a new revision that goes through the gate."""
    select = n.selector(app_name, track)
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 - the pod's own emptyDir, root FS is read-only
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    if spec.prompts:
        mounts.append({"name": "prompts", "mountPath": n.PROMPTS_DIR, "readOnly": True})
        volumes.append({"name": "prompts", "configMap": {"name": spec.prompts.config_map_ref}})
    if spec.trust_bundle:
        mounts.append({"name": "trust-bundle", "mountPath": n.TRUST_DIR, "readOnly": True})
        bundle = spec.trust_bundle
        items = [{"key": bundle.key, "path": n.TRUST_FILE.rsplit("/", 1)[1]}]
        volumes.append({"name": "trust-bundle", "configMap": {"name": bundle.config_map_ref, "items": items}})
    res = spec.resources
    resources = {
        "requests": {"cpu": res.cpu_request, "memory": res.memory_request},
        "limits": {"cpu": res.cpu_limit, "memory": res.memory_limit},
    }
    init_containers: list[Manifest] = []
    if not spec.search:
        mounts.append({"name": "index", "mountPath": n.INDEX_DIR, "readOnly": True})
        volumes.append({"name": "index", "emptyDir": {"sizeLimit": "1Gi"}})
        volumes += [
            {"name": f"documents-{i}", "configMap": {"name": source.config_map_ref}}
            for i, source in enumerate(spec.documents)
        ]
        init_containers = _ingest_containers(spec, config, resources)
    container = {
        "name": "chat",
        "image": spec.image,
        "ports": [
            {"name": "http", "containerPort": n.CHAT_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": n.METRICS_PORT, "protocol": "TCP"},
        ],
        "envFrom": [{"configMapRef": {"name": config}}],
        "env": _secret_env(spec),
        "resources": resources,
        "securityContext": CONTAINER_SECURITY,
        "startupProbe": _probe("/healthz", 2, 30),
        "livenessProbe": _probe("/healthz", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 2),
        # Endpoints stop routing to the pod while it sleeps; then SIGTERM lets open streams finish.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_SECONDS}}},
        # a start-up error's last log lines become the termination message the gate quotes (rollout/canary.py)
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    if not container["env"]:
        del container["env"]
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": select},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
    return {
        "metadata": {
            "labels": {
                **n.common_labels(app_name),
                **select,
                n.WORKLOAD_IDENTITY_USE: "true",
                n.REVISION: revision,
            },
            "annotations": {
                n.REVISION: revision,
                # for Prometheus set-ups that discover pods by annotation rather than a ServiceMonitor
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(n.METRICS_PORT),
                "prometheus.io/path": n.METRICS_PATH,
                **({n.INPUTS_DIGEST: inputs_digest} if inputs_digest else {}),
            },
        },
        "spec": {
            "serviceAccountName": app_name,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS_USER,
                "runAsGroup": RUN_AS_USER,
                "fsGroup": RUN_AS_USER,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "topologySpreadConstraints": spread,
            **({"initContainers": init_containers} if init_containers else {}),
            "containers": [container],
            "volumes": volumes,
        },
    }


def revision(app_name: str, spec: ChatApplicationSpec, inputs_digest: str = "") -> str:
    """Hash of all a pod runs with (template, settings, referenced content): a new value is a new revision."""
    inputs = {
        "template": pod_template(
            app_name, spec, "stable", config="", revision="", inputs_digest=inputs_digest
        ),
        "config": config_data(app_name, spec),
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def _plane(app: ChatApplication, spec: ChatApplicationSpec, track: str, inputs_digest: str) -> list[Manifest]:
    """ConfigMap + Deployment + Service of one track (stable or canary)."""
    name = app.metadata.name
    rev = revision(name, spec, inputs_digest)
    # its own ConfigMap when the canary has its own pool: once promoted, this revision's stable pods must
    # read the production pool, not the canary's
    own_pool = track == "canary" and spec.rollout.canary_deployments
    config = f"{n.config_name(name, rev)}-canary" if own_pool else n.config_name(name, rev)
    workload = n.stable_name(name) if track == "stable" else n.canary_name(name)
    select = n.selector(name, track)
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": select},
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": pod_template(name, spec, track, config, rev, inputs_digest),
    }
    if track == "canary":
        deployment_spec["replicas"] = 1  # stable replicas belong to the HPA, so they are never applied
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(app, config, **{n.REVISION: rev}),
            "data": config_data(name, spec, track),
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(app, workload, **{n.TRACK: track}),
            "spec": deployment_spec,
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(app, workload, **{n.TRACK: track}),
            "spec": {
                "type": "ClusterIP",
                "selector": select,
                "ports": [{"name": "http", "port": n.CHAT_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
    ]


def _metrics_service(app: ChatApplication) -> Manifest:
    """Headless, over the pods of both tracks: what the chart's ServiceMonitor scrapes (per pod). The
    app's own Services, which users and ingress reach, carry only the http port."""
    name = app.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(app, n.metrics_name(name), component="metrics"),
        "spec": {
            "clusterIP": "None",
            "selector": {"app.kubernetes.io/name": "chatfleet-chat", n.INSTANCE: name},
            "ports": [
                {"name": "metrics", "port": n.METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}
            ],
        },
    }


def _quantity_from_ms(ms: int) -> str:
    """Milliseconds as a canonical Kubernetes quantity of seconds (the API server's own spelling)."""
    return str(ms // 1000) if ms % 1000 == 0 else f"{ms}m"


def streams_per_replica(app: ChatApplication) -> tuple[int, str]:
    """Target streams per pod and its source: the spec, the gate's calibration, or the default."""
    if app.spec.scaling.streams_per_replica:
        return app.spec.scaling.streams_per_replica, "spec"
    calibrated = app.status.scaling
    if calibrated and calibrated.streams_per_replica:
        return calibrated.streams_per_replica, "calibrated"
    return DEFAULT_STREAMS_PER_REPLICA, "default"


def _hpa(app: ChatApplication) -> Manifest:
    name = app.metadata.name
    scaling = app.spec.scaling
    streams, _ = streams_per_replica(app)

    def pods_metric(metric: str, target: str) -> dict[str, Any]:
        return {
            "type": "Pods",
            "pods": {"metric": {"name": metric}, "target": {"type": "AverageValue", "averageValue": target}},
        }

    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(app, name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": n.stable_name(name)},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                # Leading signal: streams pile up before TTFT degrades.
                pods_metric("chatfleet_inflight_streams", str(streams)),
                # SLO guard: scale out when a pod's rolling TTFT p95 exceeds the target.
                pods_metric("chatfleet_ttft_p95_seconds", _quantity_from_ms(scaling.ttft_p95_target_ms)),
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [
                        {"type": "Percent", "value": 100, "periodSeconds": 15},
                        {"type": "Pods", "value": 4, "periodSeconds": 15},
                    ],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds,
                    "selectPolicy": "Min",
                    "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
                },
            },
        },
    }


def _egress_ports(spec: ChatApplicationSpec) -> list[int]:
    """443 plus the ports of any configured upstream that is not on 443 (in-cluster dev services, OTLP)."""
    ports = {443}
    canary_pool = spec.rollout.canary_deployments or []
    urls = [d.endpoint for d in [*spec.openai.deployments, *canary_pool]] + [spec.auth.issuer]
    if spec.search:
        urls.append(spec.search.endpoint)
    if spec.guards.content_safety_endpoint:
        urls.append(spec.guards.content_safety_endpoint)
    ports |= {_port(u, 80) for u in urls}
    if spec.observability.otlp_endpoint:
        ports.add(_port(spec.observability.otlp_endpoint, OTLP_DEFAULT_PORT))
    if spec.postgres:
        ports.add(spec.postgres.port)
    return sorted(ports)


def _upstream_egress(spec: ChatApplicationSpec) -> list[dict[str, Any]]:
    """443 to `network.egressCidrs` when set (private endpoints), else anywhere; other upstream ports
    (in-cluster services, OTLP) are not on 443 and keep their own rule."""
    https = {"ports": [{"protocol": "TCP", "port": 443}]}
    if spec.network.egress_cidrs:
        https["to"] = [{"ipBlock": {"cidr": cidr}} for cidr in spec.network.egress_cidrs]
    others = [p for p in _egress_ports(spec) if p != 443]
    return [https, *([{"ports": [{"protocol": "TCP", "port": p} for p in others]}] if others else [])]


def _entry_peers(spec: ChatApplicationSpec) -> list[dict[str, Any]]:
    """The ingress controller's (or Gateway proxy's) namespace, when the app has an HTTPS entry."""
    if spec.exposure is None:
        return []
    namespace = spec.exposure.controller_namespace
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]


def _network_policy(app: ChatApplication) -> Manifest:
    name = app.metadata.name
    spec = app.spec
    loadtest_peer = {"podSelector": {"matchLabels": {n.LOADTEST_FOR: name}}}
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    ingress: list[dict[str, Any]] = [
        {
            "from": [*spec.network.ingress_from, *_entry_peers(spec), loadtest_peer],
            "ports": [{"protocol": "TCP", "port": n.CHAT_PORT}],
        }
    ]
    if spec.network.metrics_from:  # an empty `from` would admit everyone: no peers, no rule
        metrics_port = [{"protocol": "TCP", "port": n.METRICS_PORT}]
        ingress.append({"from": spec.network.metrics_from, "ports": metrics_port})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(app, name),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "chatfleet-chat", n.INSTANCE: name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": [{"ports": dns}, *_upstream_egress(spec)],
        },
    }


# Answers stream for up to the service's turn deadline (60 s) plus draining; nginx's defaults (60 s read
# timeout, buffered responses) would cut long answers and hold tokens back until the buffer fills.
STREAM_TIMEOUT_SECONDS = 300
NGINX_STREAMING = {
    "nginx.ingress.kubernetes.io/proxy-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": str(STREAM_TIMEOUT_SECONDS),
    "nginx.ingress.kubernetes.io/proxy-send-timeout": str(STREAM_TIMEOUT_SECONDS),
    "nginx.ingress.kubernetes.io/proxy-body-size": "1m",  # the service refuses larger bodies itself
    "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
}


def _ingress(app: ChatApplication) -> Manifest | None:
    """The HTTPS entry: an Ingress (streaming-safe for nginx-based controllers) or a Gateway API HTTPRoute,
    both to the stable Service (the canary is reached by the gate only)."""
    exposure = app.spec.exposure
    if exposure is None:
        return None
    name = app.metadata.name
    backend = n.stable_name(name)
    if exposure.gateway is not None:
        ref = exposure.gateway.parent_ref
        parent = {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": ref.name,
            **({"namespace": ref.namespace} if ref.namespace else {}),
            **({"sectionName": ref.section_name} if ref.section_name else {}),
        }
        timeout = f"{STREAM_TIMEOUT_SECONDS}s"
        return {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": _meta(app, name),
            "spec": {
                "parentRefs": [parent],
                "hostnames": [exposure.host],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                        "backendRefs": [{"name": backend, "port": n.CHAT_PORT}],
                        "timeouts": {"request": timeout, "backendRequest": timeout},
                    }
                ],
            },
        }
    ingress = exposure.ingress
    assert ingress is not None  # ONE_ENTRY
    annotations = dict(NGINX_STREAMING)
    if ingress.cert_manager_issuer:
        annotations["cert-manager.io/issuer"] = ingress.cert_manager_issuer
    if ingress.cert_manager_cluster_issuer:
        annotations["cert-manager.io/cluster-issuer"] = ingress.cert_manager_cluster_issuer
    annotations |= ingress.annotations
    spec: dict[str, Any] = {
        "tls": [{"hosts": [exposure.host], "secretName": ingress.tls_secret_ref or f"{name}-tls"}],
        "rules": [
            {
                "host": exposure.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": backend, "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ],
    }
    if ingress.class_name:
        spec = {"ingressClassName": ingress.class_name, **spec}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {**_meta(app, name), "annotations": dict(sorted(annotations.items()))},
        "spec": spec,
    }


def stable_spec(app: ChatApplication) -> ChatApplicationSpec:
    """The spec the stable Deployment serves: the promoted one while a gate runs, else the current spec."""
    promoted = app.status.revision.stable_spec
    return ChatApplicationSpec.model_validate(promoted) if promoted else app.spec


def stable_inputs_digest(app: ChatApplication, inputs_digest: str) -> str:
    """The referenced content the stable Deployment serves: the promoted revision's, else the current."""
    promoted = app.status.revision
    return promoted.inputs_digest or "" if promoted.stable_spec else inputs_digest


def render(app: ChatApplication, inputs_digest: str = "") -> list[Manifest]:
    """Every child the resource should own right now, in apply order.

    `inputs_digest`: digest of the ConfigMaps the spec references (the operator reads them; see
    `controller/inputs.py`); empty when they are not known, as in `chatfleet render`."""
    name = app.metadata.name
    children: list[Manifest] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                **_meta(app, name),
                "annotations": {n.WORKLOAD_IDENTITY_CLIENT_ID: app.spec.identity.client_id},
            },
            "automountServiceAccountToken": False,
        },
        *_plane(app, stable_spec(app), "stable", stable_inputs_digest(app, inputs_digest)),
    ]
    if app.status.rollout.phase == "Testing" and app.status.revision.candidate:
        children += _plane(app, app.spec, "canary", inputs_digest)
    children += [
        _metrics_service(app),
        _hpa(app),
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta(app, name),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": n.selector(name, "stable")}},
        },
        _network_policy(app),
    ]
    entry = _ingress(app)
    if entry is not None:
        children.append(entry)
    return children

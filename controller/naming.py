"""Names and labels of every child, in one place so render, apply, drift repair and GC agree."""

from __future__ import annotations

FIELD_MANAGER = "chatfleet-operator"
MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
TRACK = "chatfleet.dev/track"
REVISION = "chatfleet.dev/revision"
DESIRED_HASH = "chatfleet.dev/desired-hash"
LOADTEST_FOR = "chatfleet.dev/loadtest-for"
LOADTEST_HOST_ANNOTATION = "chatfleet.dev/loadtest-host"
WORKLOAD_IDENTITY_USE = "azure.workload.identity/use"
WORKLOAD_IDENTITY_CLIENT_ID = "azure.workload.identity/client-id"
WORKLOAD_IDENTITY_TENANT_ID = "azure.workload.identity/tenant-id"

CHAT_PORT = 8000
METRICS_PORT = 9464  # /metrics only; not on the app's Services, only the metrics Service (for scrapers)
METRICS_PATH = "/metrics"
PROMPTS_DIR = "/etc/chatfleet/prompts"
DOCUMENTS_DIR = "/etc/chatfleet/documents"  # one sub-folder per spec.documents entry
TRUST_DIR = "/etc/chatfleet/trust"  # spec.trustBundle, read through SSL_CERT_FILE
TRUST_FILE = f"{TRUST_DIR}/ca.crt"
INDEX_DIR = "/var/lib/chatfleet/index"  # the pod's emptyDir; the init containers fill it
INDEX_PATH = f"{INDEX_DIR}/index.sqlite"
INPUTS_DIGEST = "chatfleet.dev/inputs-digest"  # referenced ConfigMaps' content, part of the revision


def common_labels(app: str, component: str = "chat") -> dict[str, str]:
    """Recommended app.kubernetes.io labels; `managed-by` is how the operator's watches find its children."""
    return {
        "app.kubernetes.io/name": "chatfleet-chat",
        INSTANCE: app,
        COMPONENT: component,
        "app.kubernetes.io/part-of": "chatfleet",
        MANAGED_BY: FIELD_MANAGER,
    }


def selector(app: str, track: str) -> dict[str, str]:
    """Pod selector of one track; immutable on a Deployment, so it never includes the revision."""
    return {"app.kubernetes.io/name": "chatfleet-chat", INSTANCE: app, TRACK: track}


def stable_name(app: str) -> str:
    return app


def canary_name(app: str) -> str:
    return f"{app}-canary"


def metrics_name(app: str) -> str:
    """The headless Service the ServiceMonitor selects: every chat pod of the app, metrics port only."""
    return f"{app}-metrics"


def config_name(app: str, revision: str) -> str:
    """ConfigMaps are per revision so the canary can run new settings while stable keeps the old ones."""
    return f"{app}-{revision}"


def endpoint(app: str, namespace: str) -> str:
    return f"http://{app}.{namespace}.svc:{CHAT_PORT}"


def canary_endpoint(app: str, namespace: str) -> str:
    return f"http://{canary_name(app)}.{namespace}.svc:{CHAT_PORT}"

"""A thin, counted door to the API server for the kinds the operator owns.

Built on the kubernetes client's `ApiClient` (kubeconfig/in-cluster auth, TLS, connection pool) but
speaking raw JSON: server-side apply, status patches and reads don't need typed models, and skipping
their (de)serialisation matters at 500 resources. Every call is counted by verb so tests and the
benchmark can prove "an unchanged resync makes zero writes".
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from chatfleet.contracts.resource import API_VERSION, KIND, PLURAL
from chatfleet.controller.naming import FIELD_MANAGER

log = logging.getLogger(__name__)

# kind -> (API prefix, plural); all namespaced.
KINDS: dict[str, tuple[str, str]] = {
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Service": ("/api/v1", "services"),
    "Pod": ("/api/v1", "pods"),
    "Event": ("/api/v1", "events"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses"),
    "HTTPRoute": ("/apis/gateway.networking.k8s.io/v1", "httproutes"),
    "Job": ("/apis/batch/v1", "jobs"),
    KIND: (f"/apis/{API_VERSION}", PLURAL),
}
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE"}


def load_api_client(pool_size: int = 16) -> client.ApiClient:
    """An ApiClient from KUBECONFIG / ~/.kube/config, or the in-cluster service account."""
    configuration = client.Configuration()
    try:
        config.load_kube_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


class KubeClient:
    """Raw-JSON CRUD + server-side apply for the operator's kinds, with per-verb call counts."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._api = api_client
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    # --- counting ------------------------------------------------------------------------------------
    @property
    def writes(self) -> int:
        return sum(n for verb, n in self.calls.items() if verb in WRITE_VERBS)

    @property
    def reads(self) -> int:
        return sum(n for verb, n in self.calls.items() if verb not in WRITE_VERBS)

    # --- transport -----------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        with self._lock:
            self.calls[method] += 1
        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = self._api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*params, _request_timeout=30)
        response.read()
        data = response.data or b""
        if not 200 <= response.status < 300:
            error = ApiException(status=response.status, reason=response.reason)
            error.body = data.decode(errors="replace")
            raise error
        return json.loads(data) if data else {}

    @staticmethod
    def path(kind: str, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        prefix, plural = KINDS[kind]
        path = f"{prefix}/namespaces/{namespace}/{plural}"
        if name:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path

    def oidc_issuer(self) -> str | None:
        """The API server's service-account issuer, from its OIDC discovery document (readable by every
        ServiceAccount through the built-in system:service-account-issuer-discovery role); None if refused."""
        try:
            issuer = self.request("GET", "/.well-known/openid-configuration").get("issuer")
        except ApiException as error:
            log.warning("OIDC discovery document not readable (%s): status shows the lookup", error.status)
            return None
        return str(issuer) if issuer else None

    # --- verbs ---------------------------------------------------------------------------------------
    def get(self, kind: str, namespace: str, name: str, cached: bool = False) -> dict[str, Any] | None:
        """`cached`: served from the API server's watch cache (resourceVersion=0), cheap but may lag."""
        try:
            query = {"resourceVersion": "0"} if cached else None
            return self.request("GET", self.path(kind, namespace, name), query=query)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list(
        self, kind: str, namespace: str, label_selector: str | None = None, cached: bool = False
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else {}
        if cached:
            query["resourceVersion"] = "0"
        return self.request("GET", self.path(kind, namespace), query=query).get("items", [])

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply with the operator's one field manager; conflicts are forced (we own these)."""
        meta = manifest["metadata"]
        return self.request(
            "PATCH",
            self.path(manifest["kind"], meta["namespace"], meta["name"]),
            body=manifest,
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type="application/apply-patch+yaml",
        )

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Deletes with background propagation (a Job's pods go too); False if it was already gone."""
        try:
            self.request(
                "DELETE",
                self.path(kind, namespace, name),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            )
            return True
        except ApiException as error:
            if error.status == 404:
                return False
            raise

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return self.request(
            "PATCH",
            self.path(kind, namespace, name, "status"),
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        return self.request("POST", self.path(manifest["kind"], meta["namespace"]), body=manifest)

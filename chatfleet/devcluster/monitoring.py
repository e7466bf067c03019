"""Prometheus and prometheus-adapter for a LocalCluster with a real node: the HPA's metrics, end to end.

What a platform team installs next to the chart on AKS (kube-prometheus-stack + prometheus-adapter), from the
chart itself: the chart's ServiceMonitor is translated into a Prometheus scrape config the way the Prometheus
Operator generates one (kubernetes_sd on EndpointSlices, the same relabelling, so series carry `namespace`
and `pod`), and the adapter runs with the chart's adapter rules as rendered, registered as the
custom.metrics.k8s.io APIService. Both run on the host (pod addresses are routed onto the node's bridge)
under the cluster's supervisor, so the cluster's stop stops them; each has its own RBAC identity.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from chatfleet.devcluster import tools
from chatfleet.devcluster.node import NODE_IP
from chatfleet.devcluster.pki import CertificateAuthority
from chatfleet.devcluster.probes import free_ports, http_ok
from chatfleet.paths import HELM_DIR

if TYPE_CHECKING:
    from chatfleet.devcluster.cluster import LocalCluster

Manifest = dict[str, Any]
NAMESPACE = "monitoring"  # where the chart's apps admit scrapes from by default (spec.network.metricsFrom)
ADAPTER_NAME = "prometheus-adapter"
PROMETHEUS_USER = "chatfleet:prometheus"
ADAPTER_USER = "chatfleet:prometheus-adapter"
CUSTOM_METRICS = "custom.metrics.k8s.io"
# Both versions the adapter serves, as upstream's chart registers them (the HPA prefers v1beta2).
CUSTOM_METRICS_VERSIONS = ("v1beta2", "v1beta1")
# The adapter lists series every relist interval (upstream default 10 m): a new pod's series must reach
# the HPA within seconds, not minutes.
RELIST_INTERVAL = "10s"
# Chart values every platform team sets to get the two objects this stack consumes.
CHART_VALUES = {"metrics.serviceMonitor.enabled": "true", "metrics.prometheusAdapter.enabled": "true"}


def render_chart(values: dict[str, str] | None = None, namespace: str = NAMESPACE) -> list[Manifest]:
    """`helm template` of the chart with monitoring on (plus `values`, dotted keys): what a platform
    team's release would create."""
    helm = tools.ensure_built(["helm"])["helm"]
    flags = [
        arg
        for key, value in {**CHART_VALUES, **(values or {})}.items()
        for arg in ("--set", f"{key}={value}")
    ]
    result = subprocess.run(
        [str(helm), "template", "chatfleet", str(HELM_DIR / "chatfleet"), "--namespace", namespace, *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"helm template of the chart failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def chat_service_monitor(manifests: list[Manifest]) -> Manifest:
    """The chart's ServiceMonitor of the chat apps (not the operator's: no operator pod runs here)."""
    found = [
        m
        for m in manifests
        if m["kind"] == "ServiceMonitor"
        and m["metadata"]["labels"].get("app.kubernetes.io/component") == "chat"
    ]
    if len(found) != 1:
        raise RuntimeError(f"expected one chat ServiceMonitor in the chart, found {len(found)}")
    return found[0]


def adapter_config(manifests: list[Manifest]) -> str:
    """The prometheus-adapter config.yaml the chart ships in its rules ConfigMap."""
    for m in manifests:
        if m["kind"] == "ConfigMap" and m["metadata"]["labels"].get("app.kubernetes.io/component") == (
            "metrics-adapter"
        ):
            return str(m["data"]["config.yaml"])
    raise RuntimeError("the chart rendered no prometheus-adapter rules ConfigMap")


def _label(name: str) -> str:
    """A Kubernetes label key as a Prometheus meta label suffix (the operator's sanitizeLabelName)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _relabel(rule: Manifest) -> Manifest:
    """A ServiceMonitor RelabelConfig (camelCase) as Prometheus' relabel_config (snake_case)."""
    names = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return {names.get(key, key): value for key, value in rule.items()}


def scrape_configs(monitor: Manifest, kubeconfig: Path) -> list[Manifest]:
    """The scrape configs the Prometheus Operator generates for `monitor` (role endpointslice), one per
    endpoint; Prometheus discovers targets through the API server with `kubeconfig`.

    Follows the operator's generator (pkg/prometheus/promcfg.go): keep by the Service's matchLabels and
    the endpoint's port name, then the target labels `namespace`, `service`, `pod`, `container`, `job`
    (jobLabel) and `endpoint`, then the ServiceMonitor's own relabelings. matchExpressions, TLS and auth
    are not translated (the chart uses none of them): an unsupported field is an error, not ignored.
    """
    meta, spec = monitor["metadata"], monitor["spec"]
    selector = spec.get("selector", {})
    if set(selector) - {"matchLabels"}:
        raise ValueError(
            f"ServiceMonitor selector fields {sorted(set(selector) - {'matchLabels'})} unsupported"
        )
    namespaces = spec.get("namespaceSelector", {})
    sd: Manifest = {"role": "endpointslice", "kubeconfig_file": str(kubeconfig)}
    if not namespaces.get("any"):
        sd["namespaces"] = {"names": namespaces.get("matchNames") or [meta["namespace"]]}
    configs = []
    for index, endpoint in enumerate(spec["endpoints"]):
        unsupported = set(endpoint) - {
            "port",
            "path",
            "interval",
            "scrapeTimeout",
            "relabelings",
            "honorLabels",
        }
        if unsupported:
            raise ValueError(f"ServiceMonitor endpoint fields {sorted(unsupported)} are not translated")
        relabel: list[Manifest] = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
        for key, value in sorted(selector.get("matchLabels", {}).items()):
            relabel.append(
                {
                    "action": "keep",
                    "source_labels": [
                        f"__meta_kubernetes_service_label_{_label(key)}",
                        f"__meta_kubernetes_service_labelpresent_{_label(key)}",
                    ],
                    "regex": f"({value});true",
                }
            )
        relabel += [
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_endpointslice_port_name"],
                "regex": endpoint["port"],
            },
            *(
                {
                    "source_labels": [
                        "__meta_kubernetes_endpointslice_address_target_kind",
                        "__meta_kubernetes_endpointslice_address_target_name",
                    ],
                    "separator": ";",
                    "regex": f"{kind};(.*)",
                    "replacement": "${1}",
                    "target_label": kind.lower(),
                }
                for kind in ("Node", "Pod")
            ),
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {
                "action": "drop",
                "source_labels": ["__meta_kubernetes_pod_phase"],
                "regex": "(Failed|Succeeded)",
            },
            {
                "source_labels": ["__meta_kubernetes_service_name"],
                "target_label": "job",
                "replacement": "${1}",
            },
        ]
        if spec.get("jobLabel"):
            relabel.append(
                {
                    "source_labels": [f"__meta_kubernetes_service_label_{_label(spec['jobLabel'])}"],
                    "target_label": "job",
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        relabel.append({"target_label": "endpoint", "replacement": endpoint["port"]})
        relabel += [_relabel(rule) for rule in endpoint.get("relabelings", [])]
        config: Manifest = {
            "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/{index}",
            "honor_labels": bool(endpoint.get("honorLabels", False)),
            "kubernetes_sd_configs": [sd],
            "metrics_path": endpoint.get("path", "/metrics"),
            "relabel_configs": relabel,
        }
        if "interval" in endpoint:
            config["scrape_interval"] = endpoint["interval"]
        if "scrapeTimeout" in endpoint:
            config["scrape_timeout"] = endpoint["scrapeTimeout"]
        configs.append(config)
    return configs


def _rbac(user: str, name: str, rules: list[Manifest]) -> list[Manifest]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        },
        _cluster_binding(user, name, name),
    ]


def _cluster_binding(user: str, name: str, role: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def access_manifests(adapter_port: int, ca_pem: bytes) -> list[Manifest]:
    """RBAC for both identities and the APIService through which the API server reaches the adapter on
    the host: a Service without selector and an EndpointSlice to the node address (what the upstream
    adapter chart does with a Deployment, minus the pod)."""
    import base64

    read = ["get", "list", "watch"]
    labels = {"app.kubernetes.io/name": ADAPTER_NAME}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        *_rbac(
            PROMETHEUS_USER,
            "chatfleet-prometheus",
            [
                {"apiGroups": [""], "resources": ["services", "endpoints", "pods"], "verbs": read},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
            ],
        ),
        *_rbac(
            ADAPTER_USER,
            "chatfleet-prometheus-adapter",
            [{"apiGroups": [""], "resources": ["pods", "namespaces", "services"], "verbs": read}],
        ),
        # Delegated authentication and authorization of the requests the aggregator forwards.
        _cluster_binding(
            ADAPTER_USER, "chatfleet-prometheus-adapter:auth-delegator", "system:auth-delegator"
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "chatfleet-prometheus-adapter:auth-reader", "namespace": "kube-system"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ADAPTER_USER}],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": ADAPTER_NAME, "namespace": NAMESPACE, "labels": labels},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": adapter_port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{ADAPTER_NAME}-host",
                "namespace": NAMESPACE,
                "labels": {**labels, "kubernetes.io/service-name": ADAPTER_NAME},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": adapter_port, "protocol": "TCP"}],
        },
        *(
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": f"{version}.{CUSTOM_METRICS}"},
                "spec": {
                    "group": CUSTOM_METRICS,
                    "version": version,
                    "service": {"name": ADAPTER_NAME, "namespace": NAMESPACE, "port": 443},
                    "caBundle": base64.b64encode(ca_pem).decode(),
                    "groupPriorityMinimum": 100,
                    "versionPriority": 200 if version == "v1beta2" else 100,
                },
            }
            for version in CUSTOM_METRICS_VERSIONS
        ),
    ]


class Monitoring:
    """Prometheus + prometheus-adapter for a started LocalCluster with a real node.

    `start()` returns once custom.metrics.k8s.io is Available; `url` is Prometheus' address. `values` are
    extra chart values (dotted keys), e.g. a shorter `metrics.serviceMonitor.interval` for a test.
    """

    def __init__(
        self, cluster: LocalCluster, values: dict[str, str] | None = None, timeout: float = 90
    ) -> None:
        if not cluster.real_node:
            raise ValueError("monitoring scrapes real pods: start the LocalCluster with real_node=True")
        self.cluster = cluster
        self.values = values or {}
        self.timeout = timeout
        self.folder = cluster.workdir / "monitoring"
        self.url = ""

    def start(self) -> Monitoring:
        from kubernetes import utils

        binaries = tools.ensure_built(["prometheus", "prometheus-adapter"])
        manifests = render_chart(self.values)
        self.folder.mkdir(mode=0o700, exist_ok=True)
        prometheus_port, adapter_port = free_ports(2)
        self.url = f"http://127.0.0.1:{prometheus_port}"

        ca = CertificateAuthority("chatfleet-metrics-adapter-ca")
        service = f"{ADAPTER_NAME}.{NAMESPACE}.svc"
        cert, key = ca.issue_server(ADAPTER_NAME, [service], [NODE_IP]).write(self.folder, "adapter")
        api = self.cluster.api_client()
        for manifest in access_manifests(adapter_port, ca.cert_pem):
            utils.create_from_dict(api, manifest)

        config = {
            "global": {"evaluation_interval": "15s"},
            "scrape_configs": scrape_configs(
                chat_service_monitor(manifests),
                self.cluster.client_kubeconfig("prometheus", PROMETHEUS_USER),
            ),
        }
        (self.folder / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        (self.folder / "adapter.yaml").write_text(adapter_config(manifests))
        processes = self.cluster.processes
        processes.spawn(
            "prometheus",
            [
                str(binaries["prometheus"]),
                f"--config.file={self.folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
        )
        adapter_kubeconfig = self.cluster.client_kubeconfig(ADAPTER_NAME, ADAPTER_USER)
        processes.spawn(
            ADAPTER_NAME,
            [
                str(binaries["prometheus-adapter"]),
                f"--prometheus-url={self.url}",
                f"--config={self.folder / 'adapter.yaml'}",
                f"--metrics-relist-interval={RELIST_INTERVAL}",
                f"--bind-address={NODE_IP}",
                f"--secure-port={adapter_port}",
                f"--tls-cert-file={cert}",
                f"--tls-private-key-file={key}",
                f"--lister-kubeconfig={adapter_kubeconfig}",
                f"--authentication-kubeconfig={adapter_kubeconfig}",
                f"--authorization-kubeconfig={adapter_kubeconfig}",
                "--v=1",
            ],
        )
        processes.wait("Prometheus ready", lambda: http_ok(f"{self.url}/-/ready"), self.timeout, ())
        processes.wait("custom.metrics.k8s.io Available", self._api_service_available, self.timeout, ())
        return self

    def _api_service_available(self) -> bool:
        from kubernetes import client

        registration = client.ApiregistrationV1Api(self.cluster.api_client())
        for version in CUSTOM_METRICS_VERSIONS:
            status = registration.read_api_service(f"{version}.{CUSTOM_METRICS}").status
            conditions = (status.conditions if status else None) or []
            if not any(c.type == "Available" and c.status == "True" for c in conditions):
                return False
        return True

    def query(self, expr: str) -> list[Manifest]:
        """An instant PromQL query's result vector."""
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        if body.get("status") != "success":
            raise RuntimeError(f"PromQL {expr!r} failed: {body}")
        return list(body["data"]["result"])

    def pod_metric(self, namespace: str, metric: str) -> dict[str, str]:
        """pod -> value of a custom Pods metric as the HPA reads it (API server -> adapter -> Prometheus)."""
        path = f"/apis/{CUSTOM_METRICS}/{CUSTOM_METRICS_VERSIONS[0]}/namespaces/{namespace}/pods/*/{metric}"
        result = subprocess.run(
            [str(self.cluster.kubectl), "get", "--raw", path],
            env=self.cluster.env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"reading {metric} in {namespace} failed: {result.stderr.strip()}")
        items = json.loads(result.stdout).get("items", [])
        return {item["describedObject"]["name"]: str(item["value"]) for item in items}

    def wait_for_targets(self, count: int, timeout: float = 60) -> None:
        """Until `count` chat targets are up (the scrape reaches every pod)."""
        deadline = time.monotonic() + timeout
        while len(self.query('up{job!=""} == 1')) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} chat targets up after {timeout:g}s")
            time.sleep(1)

"""`helm lint` and `helm template` of the chart for the value sets a platform team uses.

Each test reads the rendered objects the way the API server and the operator will: the Deployment runs the
operator command that really exists, RBAC grants exactly the kinds the operator's API door touches, the
metrics adapter publishes exactly the metric names the rendered HPA reads, and the CRD is the generated one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from chatfleet.contracts.resource import CRD_NAME, PLURAL
from chatfleet.controller.kube import KINDS
from chatfleet.controller.loading import load_applications
from chatfleet.controller.render import render as render_app
from chatfleet.paths import CRDS_DIR, EXAMPLES_DIR, HELM_DIR

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]
CHART = HELM_DIR / "chatfleet"
NAMESPACES = ["team-a", "team-b"]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    (found,) = of_kind(manifests, kind)
    return found


def operator_container(manifests: list[Manifest]) -> Manifest:
    (container,) = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def sample_app_children() -> list[Manifest]:
    """What the operator renders for the minimal example: the objects the chart's metrics must match."""
    (app,) = load_applications((EXAMPLES_DIR / "minimal.yaml").read_text())
    return render_app(app)


def test_helm_lint_strict_passes(helm: Path) -> None:
    result = subprocess.run([str(helm), "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_values_give_a_hardened_two_replica_operator(render: Render) -> None:
    manifests = render()
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = operator_container(manifests)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["namespace"] == "chatfleet-system"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert one(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert {"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in container["env"]


def test_operator_command_exists_and_probes_hit_its_liveness_endpoint(render: Render) -> None:
    container = operator_container(render())
    args = container["args"]
    assert args[:2] == ["operator", "run"]
    assert "--all-namespaces" in args and "--peering=chatfleet" in args
    liveness = next(a for a in args if a.startswith("--liveness="))
    assert liveness == "--liveness=http://0.0.0.0:8080/healthz"
    assert container["ports"][0] == {"name": "health", "containerPort": 8080, "protocol": "TCP"}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    # The same arguments parse with the installed CLI (an unknown option would exit 2).
    cli = Path(__import__("sys").executable).with_name("chatfleet")
    result = subprocess.run([str(cli), *args, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_cluster_wide_peering_object_and_cluster_roles(render: Render) -> None:
    manifests = render()
    assert one(manifests, "ClusterKopfPeering")["metadata"]["name"] == "chatfleet"
    assert of_kind(manifests, "KopfPeering") == []
    assert of_kind(manifests, "Role") == []
    roles = {r["metadata"]["name"] for r in of_kind(manifests, "ClusterRole")}
    concerns = {"chatapplications", "workloads", "network", "autoscaling", "loadtests", "events", "peering"}
    assert {f"cf-chatfleet-{c}" for c in concerns} | {"cf-chatfleet-discovery"} <= roles
    bindings = of_kind(manifests, "ClusterRoleBinding")
    assert len(bindings) == len(concerns) + 1
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "cf-chatfleet", "namespace": "chatfleet-system"}
        ]


def test_namespace_scoped_operator_gets_roles_and_peering_per_namespace(render: Render) -> None:
    manifests = render({"operator.watchNamespaces": NAMESPACES})
    args = operator_container(manifests)["args"]
    assert "--all-namespaces" not in args
    assert [a for a in args if a.startswith("--namespace=")] == [f"--namespace={ns}" for ns in NAMESPACES]
    assert of_kind(manifests, "ClusterKopfPeering") == []
    assert sorted(p["metadata"]["namespace"] for p in of_kind(manifests, "KopfPeering")) == NAMESPACES
    roles = of_kind(manifests, "Role")
    assert sorted({r["metadata"]["namespace"] for r in roles}) == NAMESPACES
    assert len(roles) == 7 * len(NAMESPACES) == len(of_kind(manifests, "RoleBinding"))
    # Only read-only CRD discovery and the aggregated app-team roles stay cluster-wide.
    cluster_roles = {r["metadata"]["name"] for r in of_kind(manifests, "ClusterRole")}
    assert cluster_roles == {
        "cf-chatfleet-discovery",
        "cf-chatfleet-chatapplications-edit",
        "cf-chatfleet-chatapplications-view",
    }
    peering = next(r for r in roles if r["metadata"]["name"].endswith("-peering"))
    assert peering["rules"][0]["resources"] == ["kopfpeerings"]


def test_single_replica_has_no_disruption_budget(render: Render) -> None:
    manifests = render({"operator.replicaCount": 1})
    assert one(manifests, "Deployment")["spec"]["replicas"] == 1
    assert of_kind(manifests, "PodDisruptionBudget") == []


def test_rbac_grants_exactly_the_kinds_the_operator_touches(render: Render) -> None:
    """Every kind in the operator's API door (controller/kube.py) is granted; nothing else is."""
    granted: dict[str, set[str]] = {}
    for role in of_kind(render(), "ClusterRole"):
        if role["metadata"]["name"].endswith(("-edit", "-view")):
            continue
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]
            for resource in rule["resources"]:
                granted.setdefault(resource, set()).update(rule["verbs"])
    operator_kinds = {plural for _, plural in KINDS.values()}
    framework = {f"{PLURAL}/status", "clusterkopfpeerings", "customresourcedefinitions", "namespaces"}
    assert set(granted) == operator_kinds | framework
    assert "secrets" not in granted
    assert granted["pods"] == {"get", "list", "watch"}, "pods are only read (load-test verdicts)"
    assert granted["events"] == {"create", "patch"}
    assert granted["customresourcedefinitions"] == granted["namespaces"] == {"get", "list", "watch"}
    assert granted[PLURAL] >= {"get", "list", "watch", "patch"}
    assert "create" not in granted[PLURAL], "apps are created by app teams, not the operator"


def test_chart_crd_is_the_generated_crd_with_lifecycle_metadata(render: Render) -> None:
    source = yaml.safe_load((CRDS_DIR / f"{CRD_NAME}.yaml").read_text())
    crds = {c["metadata"]["name"]: c for c in of_kind(render(), "CustomResourceDefinition")}
    rendered = crds.pop(CRD_NAME)
    assert rendered["spec"] == source["spec"]
    assert rendered["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert rendered["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert set(crds) == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}


def test_crd_lifecycle_values(render: Render) -> None:
    def chat_crd(values: dict[str, Any]) -> list[Manifest]:
        crds = of_kind(render(values), "CustomResourceDefinition")
        return [c for c in crds if c["metadata"]["name"] == CRD_NAME]

    (unkept,) = chat_crd({"crds.keep": False})
    # Absent, not another value: Helm neither keeps nor deletes an object whose policy is not "keep".
    assert "helm.sh/resource-policy" not in unkept["metadata"].get("annotations", {})
    assert chat_crd({"crds.install": False}) == []


def test_kopf_peering_crds_are_the_ones_the_installed_kopf_watches() -> None:
    from kopf._cogs.structs.references import CLUSTER_PEERINGS_K, NAMESPACED_PEERINGS_K

    crds = [d for d in yaml.safe_load_all((CHART / "crds" / "kopf-peerings.yaml").read_text()) if d]
    served = {
        (c["spec"]["group"], c["spec"]["versions"][0]["name"], c["spec"]["names"]["plural"]) for c in crds
    }
    for selector in (CLUSTER_PEERINGS_K, NAMESPACED_PEERINGS_K):
        assert (selector.group, selector.version, selector.any_name) in served


def test_network_policy_allows_only_api_server_and_dns(render: Render) -> None:
    policy = one(render({"networkPolicy.apiServer.cidrs": ["10.0.0.1/32"]}), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9090}]}]  # the metrics port only
    assert one(render({"operator.metricsPort": 0}), "NetworkPolicy")["spec"]["ingress"] == []
    scrapers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    limited = one(render({"networkPolicy.metricsFrom": scrapers}), "NetworkPolicy")["spec"]["ingress"]
    assert limited == [{"ports": [{"protocol": "TCP", "port": 9090}], "from": scrapers}]
    api, dns = policy["egress"]
    assert api["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert {p["port"] for p in api["ports"]} == {443, 6443}
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    # Without CIDRs and without a cluster to look them up in, only the ports restrict API egress.
    api_default = one(render(), "NetworkPolicy")["spec"]["egress"][0]
    assert "to" not in api_default


def test_prometheus_adapter_rules_publish_the_metrics_the_hpa_reads(render: Render) -> None:
    hpa = next(c for c in sample_app_children() if c["kind"] == "HorizontalPodAutoscaler")
    wanted = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
    for source in ("histogram", "gauge"):
        values = {"metrics.prometheusAdapter.enabled": True, "metrics.prometheusAdapter.ttftSource": source}
        config = one(render(values), "ConfigMap")
        rules = yaml.safe_load(config["data"]["config.yaml"])["rules"]
        assert {rule["name"]["as"] for rule in rules} == wanted
        for rule in rules:
            assert rule["resources"]["overrides"] == {
                "namespace": {"resource": "namespace"},
                "pod": {"resource": "pod"},
            }
    histogram = yaml.safe_load(
        one(render({"metrics.prometheusAdapter.enabled": True}), "ConfigMap")["data"]["config.yaml"]
    )
    ttft = next(r for r in histogram["rules"] if r["name"]["as"] == "chatfleet_ttft_p95_seconds")
    assert ttft["seriesQuery"].startswith("chatfleet_ttft_seconds_bucket")
    assert "histogram_quantile(0.95" in ttft["metricsQuery"] and "[2m]" in ttft["metricsQuery"]


def test_service_monitor_selects_the_services_the_operator_renders(render: Render) -> None:
    monitors = of_kind(
        render(
            {"metrics.serviceMonitor.enabled": True, "metrics.serviceMonitor.labels": {"release": "prom"}}
        ),
        "ServiceMonitor",
    )
    (monitor,) = [m for m in monitors if m["metadata"]["name"].endswith("-chat-services")]
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    (endpoint,) = monitor["spec"]["endpoints"]
    children = sample_app_children()
    services = [c for c in children if c["kind"] == "Service"]
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    (scraped,) = [s for s in services if selector <= s["metadata"]["labels"].items()]
    (port,) = scraped["spec"]["ports"]
    assert port["name"] == endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
    # the Service selects the chat pods, whose container names that port and serves /metrics on it
    (deployment,) = [c for c in children if c["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]
    assert scraped["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    (named,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    config = next(c for c in children if c["kind"] == "ConfigMap")
    assert config["data"]["CHATFLEET_METRICS_PORT"] == str(named["containerPort"])
    # and no user-facing Service exposes it
    for service in services:
        if service is not scraped:
            assert "metrics" not in {p["name"] for p in service["spec"]["ports"]}


def test_a_scrape_timeout_longer_than_the_interval_is_refused(render: Render, rejection) -> None:
    """Prometheus refuses the whole scrape config (every target) when a timeout exceeds its interval; the
    default timeout (10s) with a short interval was the easy way to get there."""
    on = {"metrics.serviceMonitor.enabled": True}
    message = rejection({**on, "metrics.serviceMonitor.interval": "5s"})
    assert "scrapeTimeout (10s) is longer than metrics.serviceMonitor.interval (5s)" in message
    assert "interval (1m)" in rejection(
        {**on, "metrics.serviceMonitor.interval": "1m", "metrics.serviceMonitor.scrapeTimeout": "1m500ms"}
    )
    for interval, timeout in [("5s", "4500ms"), ("5s", "5s"), ("1m", "59s"), ("1m30s", "1m")]:
        monitors = of_kind(
            render(
                {
                    **on,
                    "metrics.serviceMonitor.interval": interval,
                    "metrics.serviceMonitor.scrapeTimeout": timeout,
                }
            ),
            "ServiceMonitor",
        )
        assert {e["scrapeTimeout"] for m in monitors for e in m["spec"]["endpoints"]} == {timeout}


def test_operator_metrics_port_service_and_monitor(render: Render) -> None:
    container = operator_container(render())
    assert "--metrics-port=9090" in container["args"]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    manifests = render(
        {"metrics.serviceMonitor.enabled": True, "metrics.serviceMonitor.labels": {"release": "p"}}
    )
    monitor = next(
        m for m in of_kind(manifests, "ServiceMonitor") if m["metadata"]["name"].endswith("-operator")
    )
    service = next(
        m for m in of_kind(manifests, "Service") if m["metadata"]["name"].endswith("-operator-metrics")
    )
    pod_labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["release"] == "p"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    off = render({"metrics.serviceMonitor.enabled": True, "operator.metricsPort": 0})
    assert "--metrics-port=0" in operator_container(off)["args"]
    assert len(of_kind(off, "ServiceMonitor")) == 1 and not of_kind(off, "Service")


def test_optional_metrics_objects_are_off_by_default(render: Render) -> None:
    kinds = {m["kind"] for m in render()}
    assert "ServiceMonitor" not in kinds and "ConfigMap" not in kinds


def test_image_digest_pins_the_operator_image(render: Render) -> None:
    digest = "sha256:" + "a" * 64
    image = operator_container(render({"operator.image.digest": digest}))["image"]
    assert image == f"ghcr.io/chatfleet/operator@{digest}"
    assert operator_container(render())["image"] == "ghcr.io/chatfleet/operator:0.1.0"


def test_operator_environment_names_are_operator_settings(render: Render) -> None:
    """Every CHATFLEET_OPERATOR_* variable the chart sets is a field the operator's settings read."""
    from chatfleet.controller.settings import OperatorSettings

    prefix = OperatorSettings.model_config["env_prefix"]
    fields = {prefix + name.upper() for name in OperatorSettings.model_fields}
    env = {e["name"]: e.get("value") for e in operator_container(render())["env"]}
    chart_settings = {name for name in env if name.startswith(prefix)}
    assert chart_settings and chart_settings <= fields
    assert env[f"{prefix}LOADTEST_IMAGE"] == "ghcr.io/chatfleet/loadtest:0.1.0"


def test_packaged_chart_carries_the_crd_content(helm: Path, tmp_path: Path) -> None:
    """`helm package` resolves the CRD symlink, so a chart archive installs without the repository."""
    subprocess.run([str(helm), "package", str(CHART), "-d", str(tmp_path)], check=True, capture_output=True)
    (archive,) = tmp_path.glob("chatfleet-*.tgz")
    result = subprocess.run(
        [str(helm), "template", "cf", str(archive), "-n", "x"], capture_output=True, text=True, check=True
    )
    crds = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "CustomResourceDefinition"]
    source = yaml.safe_load((CRDS_DIR / f"{CRD_NAME}.yaml").read_text())
    assert [c["spec"] for c in crds] == [source["spec"]]

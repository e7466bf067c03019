"""The chart's ServiceMonitor, translated as the Prometheus Operator would, is a config Prometheus accepts
and yields the labels the chart's adapter rules need."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from chatfleet.devcluster import monitoring
from chatfleet.devcluster.tools import ensure_built


@pytest.fixture(scope="module")
def chart() -> list[monitoring.Manifest]:
    return monitoring.render_chart(
        {"metrics.serviceMonitor.interval": "5s", "metrics.serviceMonitor.scrapeTimeout": "4s"}
    )


def test_scrape_config_keeps_the_metrics_services_and_labels_pods(
    chart: list[monitoring.Manifest], tmp_path: Path
) -> None:
    monitor = monitoring.chat_service_monitor(chart)
    (config,) = monitoring.scrape_configs(monitor, tmp_path / "kubeconfig")
    assert config["scrape_interval"] == "5s" and config["metrics_path"] == "/metrics"
    (sd,) = config["kubernetes_sd_configs"]
    assert sd["role"] == "endpointslice" and "namespaces" not in sd  # namespaceSelector any: true
    relabel = config["relabel_configs"]
    keeps = {tuple(r["source_labels"]): r["regex"] for r in relabel if r.get("action") == "keep"}
    assert keeps[("__meta_kubernetes_endpointslice_port_name",)] == "metrics"
    assert (
        keeps[
            (
                "__meta_kubernetes_service_label_app_kubernetes_io_component",
                "__meta_kubernetes_service_labelpresent_app_kubernetes_io_component",
            )
        ]
        == "(metrics);true"
    )
    targets = {r.get("target_label") for r in relabel}
    # namespace and pod: what the adapter rules map to Kubernetes resources; app and revision: the chart's.
    assert {"namespace", "pod", "service", "job", "endpoint", "app", "revision"} <= targets


def test_translated_config_passes_promtool(chart: list[monitoring.Manifest], tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    configs = monitoring.scrape_configs(monitoring.chat_service_monitor(chart), kubeconfig)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": configs}))
    promtool = ensure_built(["promtool"])["promtool"]
    result = subprocess.run(
        [str(promtool), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_adapter_rules_are_the_charts(chart: list[monitoring.Manifest]) -> None:
    rules = yaml.safe_load(monitoring.adapter_config(chart))["rules"]
    assert {rule["name"]["as"] for rule in rules} == {
        "chatfleet_inflight_streams",
        "chatfleet_ttft_p95_seconds",
    }


def test_unsupported_selector_is_an_error(chart: list[monitoring.Manifest], tmp_path: Path) -> None:
    monitor = monitoring.chat_service_monitor(chart)
    monitor["spec"]["selector"] = {"matchExpressions": [{"key": "a", "operator": "Exists"}]}
    with pytest.raises(ValueError, match="matchExpressions"):
        monitoring.scrape_configs(monitor, tmp_path / "kubeconfig")

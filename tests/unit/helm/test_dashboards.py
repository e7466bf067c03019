"""The Grafana dashboards ConfigMap: what the dashboard sidecar needs to load it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chatfleet.paths import HELM_DIR

Manifest = dict[str, Any]
DASHBOARDS = HELM_DIR / "chatfleet" / "files" / "dashboards"


def test_configmap_carries_every_dashboard_with_the_sidecar_label(
    render: Callable[..., list[Manifest]],
) -> None:
    manifests = render(
        {"metrics.dashboards.enabled": True, "metrics.dashboards.annotations": {"grafana_folder": "chat"}}
    )
    (configmap,) = [
        doc
        for doc in manifests
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-dashboards")
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "chat"}
    files = sorted(path.name for path in DASHBOARDS.glob("*.json"))
    assert sorted(configmap["data"]) == files and files
    for name, text in configmap["data"].items():
        assert json.loads(text) == json.loads((DASHBOARDS / name).read_text())


def test_dashboard_ids_and_panel_ids_are_unique_and_every_panel_has_a_query() -> None:
    uids = set()
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        assert all(panel["targets"] and panel["description"] for panel in dashboard["panels"]), path.name


def test_no_dashboards_unless_enabled(render: Callable[..., list[Manifest]]) -> None:
    assert not [doc for doc in render() if doc["metadata"]["name"].endswith("-dashboards")]

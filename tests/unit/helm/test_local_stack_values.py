"""The values `chatfleet up` installs the chart with pass the chart's schema and run the images built here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatfleet.stack_node import SYSTEM_NAMESPACE, operator_values


def test_the_local_stack_values_render_the_operator_with_the_local_images(
    render: Callable[..., list[dict[str, Any]]],
) -> None:
    values = operator_values("chatfleet.local/chatfleet/operator:abc", "chatfleet.local/chatfleet/loadtest:def")
    flat = {f"operator.{key}": value for key, value in values["operator"].items()}
    manifests = render(flat, namespace=SYSTEM_NAMESPACE)
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "chatfleet.local/chatfleet/operator:abc"
    assert container["imagePullPolicy"] == "Never", "imported into containerd, never pulled"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CHATFLEET_OPERATOR_LOADTEST_IMAGE"] == "chatfleet.local/chatfleet/loadtest:def"
    assert env["CHATFLEET_OPERATOR_DEV_MODE"] == "true"
    assert deployment["spec"]["replicas"] == 1

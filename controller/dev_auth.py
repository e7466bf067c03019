"""Sign-in off for the chat pods of a local cluster (`CHATFLEET_OPERATOR_DEV_AUTH`), never a spec field.

`chatfleet up` runs the sample app on a laptop that has no Entra tenant: nobody could sign in to the UI and
the gate's Job has no token to send. The platform team that installs the operator decides this for every app
it reconciles (the Helm chart's `operator.extraEnv`); an app team cannot ask for it in a ChatApplication. The
chat service itself accepts `CHATFLEET_AUTH_MODE=none` only together with `CHATFLEET_DEV_MODE=true`, and then
takes the tenant from the X-Chatfleet-Tenant header (the UI shows a tenant picker and a dev badge).

A transform of what `render()` returns, so render stays the production contract (`chatfleet render` shows
what a cluster without this setting runs) and pure.
"""

from __future__ import annotations

from typing import Any

from chatfleet.controller import naming as n

DEV_AUTH_SETTINGS = {"CHATFLEET_DEV_MODE": "true", "CHATFLEET_AUTH_MODE": "none"}


def without_sign_in(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same children with the chat pods' settings ConfigMaps in dev mode (copies; input untouched)."""
    out: list[dict[str, Any]] = []
    for manifest in manifests:
        labels = manifest.get("metadata", {}).get("labels", {})
        if manifest.get("kind") == "ConfigMap" and n.REVISION in labels:
            manifest = {**manifest, "data": {**manifest.get("data", {}), **DEV_AUTH_SETTINGS}}
        out.append(manifest)
    return out

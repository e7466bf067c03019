"""Chat pods of a local cluster (`CHATFLEET_OPERATOR_DEV_MODE`): no sign-in and no Azure identity.

`chatfleet up` runs the sample app on a machine that has no Entra tenant and no Azure: nobody could sign in
to the UI, the gate's Job has no token to send, and the pods' workload identity has nothing to exchange its
token with. The platform team that installs the operator decides this for every app it reconciles (the Helm
chart's `operator.extraEnv`); an app team cannot ask for it in a ChatApplication. Two changes, both to the
settings ConfigMaps of the chat pods:
- `CHATFLEET_DEV_MODE=true` and `CHATFLEET_AUTH_MODE=none` (the service accepts the second only with the
  first): the tenant comes from the X-Chatfleet-Tenant header; the UI shows a tenant picker and a dev badge;
- every Azure OpenAI deployment gets the placeholder key `local-simulator` instead of workload identity
  (the in-cluster simulator accepts any key; it is no secret); so does the gate Job's judge (`GateRun`).

A transform of what `render()` returns, so render stays the production contract (`chatfleet render` shows
what a cluster without this setting runs, `chatfleet render --dev-mode` what the local stack runs) and pure.
"""

from __future__ import annotations

import json
from typing import Any

from chatfleet.controller import naming as n

DEV_SETTINGS = {"CHATFLEET_DEV_MODE": "true", "CHATFLEET_AUTH_MODE": "none"}
PLACEHOLDER_KEY = "local-simulator"
DEPLOYMENTS = "CHATFLEET_OPENAI_DEPLOYMENTS"


def local_dev_mode(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same children with the chat pods' settings ConfigMaps in dev mode (copies; input untouched)."""
    out: list[dict[str, Any]] = []
    for manifest in manifests:
        labels = manifest.get("metadata", {}).get("labels", {})
        if manifest.get("kind") == "ConfigMap" and n.REVISION in labels:
            data = {**manifest.get("data", {}), **DEV_SETTINGS}
            if DEPLOYMENTS in data:
                pool = [{**d, "apiKey": PLACEHOLDER_KEY} for d in json.loads(data[DEPLOYMENTS])]
                data[DEPLOYMENTS] = json.dumps(pool, separators=(",", ":"))
            manifest = {**manifest, "data": data}
        out.append(manifest)
    return out

"""Desired vs live: decides whether a child needs a write, so an unchanged resync writes nothing.

Two checks: the desired-hash annotation (catches changes of our own intent, including fields we stopped
setting) and "desired is a subset of live" (catches hand edits of fields we own). Server-side defaults and
fields other managers own (HPA-scaled replicas, injected annotations) are extra keys in live and ignored.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from kubernetes.utils import parse_quantity

from chatfleet.controller.naming import DESIRED_HASH

QUANTITY_KEYS = {"cpu", "memory", "ephemeral-storage", "sizeLimit", "averageValue"}


def desired_hash(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


def with_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as applied: annotated with the hash of what the operator intends."""
    stamped = copy.deepcopy(manifest)
    annotations = stamped["metadata"].setdefault("annotations", {})
    annotations[DESIRED_HASH] = desired_hash(manifest)
    return stamped


def _same_scalar(key: str | None, want: Any, have: Any) -> bool:
    if want == have:
        return True
    if key in QUANTITY_KEYS and isinstance(want, str | int) and isinstance(have, str | int):
        try:
            return parse_quantity(want) == parse_quantity(have)
        except ValueError:
            return False
    return False


def is_subset(want: Any, have: Any, key: str | None = None) -> bool:
    """True when every field of `want` is present in `have` with an equal value."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and is_subset(v, have[k], k) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list):
            return False
        if all(isinstance(w, dict) and "name" in w for w in want):  # associative list keyed by name
            by_name = {h.get("name"): h for h in have if isinstance(h, dict)}
            return all(w["name"] in by_name and is_subset(w, by_name[w["name"]]) for w in want)
        return len(want) == len(have) and all(is_subset(w, h) for w, h in zip(want, have, strict=True))
    return _same_scalar(key, want, have)


def needs_apply(desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """Whether applying `desired` (unstamped) would change `live`."""
    if live is None or live.get("metadata", {}).get("deletionTimestamp"):
        return True
    if live["metadata"].get("annotations", {}).get(DESIRED_HASH) != desired_hash(desired):
        return True
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata")}
    meta = {k: desired["metadata"].get(k) for k in ("labels", "annotations", "ownerReferences")}
    return not (is_subset(body, live) and is_subset({k: v for k, v in meta.items() if v}, live["metadata"]))

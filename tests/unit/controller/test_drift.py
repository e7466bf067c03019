"""Desired-vs-live comparison: no write for server defaults, a write for hand edits."""

from __future__ import annotations

import copy

from chatfleet.controller.drift import is_subset, needs_apply, with_hash
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render
from chatfleet.controller.status import merge_patch


def deployment(make_app):
    app = parse_application(make_app({"metadata": {"name": "bot", "namespace": "ns", "uid": "u"}}))
    return next(c for c in render(app) if c["kind"] == "Deployment")


def as_live(desired):
    """What the API server returns: our fields, plus defaults and others' fields."""
    live = copy.deepcopy(with_hash(desired))
    live["metadata"] |= {"uid": "x", "resourceVersion": "7", "generation": 1}
    live["spec"]["replicas"] = 3
    container = live["spec"]["template"]["spec"]["containers"][0]
    container |= {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"}
    container["resources"]["limits"]["cpu"] = "1000m"
    container["env"] = [{"name": "INJECTED", "value": "by-someone"}]
    live["status"] = {"replicas": 3}
    return live


def test_unchanged_child_needs_no_write(make_app) -> None:
    desired = deployment(make_app)
    assert not needs_apply(desired, as_live(desired))


def test_hand_edit_of_an_owned_field_is_drift(make_app) -> None:
    desired = deployment(make_app)
    live = as_live(desired)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:latest"
    assert needs_apply(desired, live)


def test_changed_intent_is_drift_even_when_fields_are_only_removed(make_app) -> None:
    desired = deployment(make_app)
    live = as_live(desired)
    smaller = copy.deepcopy(desired)
    del smaller["spec"]["revisionHistoryLimit"]
    assert needs_apply(smaller, live)


def test_missing_or_deleting_child_is_drift(make_app) -> None:
    desired = deployment(make_app)
    assert needs_apply(desired, None)
    live = as_live(desired)
    live["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert needs_apply(desired, live)


def test_quantities_compare_by_value() -> None:
    assert is_subset({"cpu": "0.5"}, {"cpu": "500m"})
    assert not is_subset({"cpu": "1"}, {"cpu": "500m"})
    assert not is_subset({"image": "1"}, {"image": "1.0"})


def test_merge_patch_removes_vanished_keys() -> None:
    old = {"revision": {"current": "a", "candidate": "b"}, "replicas": 2}
    new = {"revision": {"current": "b"}, "replicas": 2}
    assert merge_patch(old, new) == {"revision": {"current": "b", "candidate": None}}

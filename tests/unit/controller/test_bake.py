"""The bake after promotion: judging live figures, and the state machine rolling a promoted revision back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render, revision
from chatfleet.controller.rollout.bake import BakeReading, breach
from chatfleet.controller.rollout.machine import Observe, plan
from chatfleet.controller.rollout.verdict import GateVerdict
from chatfleet.controller.spec import Bake, ChatApplication, Slo
from chatfleet.controller.status import observed_status

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SLO = Slo(ttft_p95_ms=1500, error_rate_percent=1.0, min_tokens_per_second=20)
BAKE = Bake(duration="10m", window="2m", min_requests=20)
HEALTHY = BakeReading(requests=300, errors=0, ttft_p95_ms=800)
SLOW = BakeReading(requests=300, errors=0, ttft_p95_ms=3100)


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (None, None),
        (HEALTHY, None),
        (BakeReading(requests=10, errors=10, ttft_p95_ms=9000), None),  # too few requests to judge
        (BakeReading(requests=300, errors=0, ttft_p95_ms=None), None),  # no first token in the window
        (SLOW, "live TTFT p95 3100 ms > SLO 1500 ms over the last 2m (300 chat requests)"),
        (
            BakeReading(requests=200, errors=6, ttft_p95_ms=800),
            "live error rate 3.0% > SLO 1% over the last 2m",
        ),
    ],
)
def test_breach_names_the_figure_the_slo_and_the_window(
    reading: BakeReading | None, expected: str | None
) -> None:
    found = breach(reading, SLO, BAKE)
    assert found == expected or (expected is not None and found is not None and found.startswith(expected))


@pytest.fixture
def app(make_app) -> ChatApplication:
    doc = make_app({"metadata": {"name": "bot", "namespace": "ns", "uid": "u", "generation": 1}})
    doc["spec"]["rollout"] = {"bake": {"duration": "10m", "window": "2m"}}
    return parse_application(doc)


def step(app: ChatApplication, observe: Observe | None, now: datetime = NOW, passed: bool = True):
    result = plan(
        app,
        revision(app.metadata.name, app.spec),
        lambda _: GateVerdict(passed, "SLOsMet" if passed else "SLOFailed", "gate"),
        now,
        observe=observe,
    )
    app.status = result.status
    return result


def images(app: ChatApplication) -> dict[str, str]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in render(app)
        if d["kind"] == "Deployment"
    }


def promoted_v2(app: ChatApplication, observe: Observe) -> tuple[str, str]:
    step(app, observe)
    first = app.status.revision.current
    app.spec.image = "registry.example/chat:2.0.0"
    second = revision("bot", app.spec)
    step(app, observe)  # gate starts
    step(app, observe)  # gate passes
    assert first is not None
    return first, second


def test_first_revision_is_not_baked(app: ChatApplication) -> None:
    step(app, lambda *_: pytest.fail("nothing to roll back to"))
    assert app.status.rollout.phase == "Idle"


def test_promoted_revision_bakes_then_settles(app: ChatApplication) -> None:
    windows: list[tuple[str, str]] = []

    def observe(rev: str, window: str) -> BakeReading:
        windows.append((rev, window))
        return HEALTHY

    _, second = promoted_v2(app, observe)
    assert app.status.rollout.phase == "Baking" and app.status.revision.current == second
    assert "baking for 10m" in (app.status.rollout.message or "")
    step(app, observe, NOW + timedelta(minutes=5))
    assert app.status.rollout.phase == "Baking" and windows == [(second, "2m")]
    result = step(app, observe, NOW + timedelta(minutes=10))
    assert app.status.rollout.phase == "Idle" and [e.reason for e in result.events] == ["Baked"]
    assert images(app) == {"bot": "registry.example/chat:2.0.0"}


def test_breach_during_bake_rolls_back_to_the_previous_revision_and_stays(app: ChatApplication) -> None:
    readings = iter([HEALTHY, SLOW])
    first, second = promoted_v2(app, lambda *_: next(readings))
    step(app, lambda *_: next(readings), NOW + timedelta(minutes=1))
    result = step(app, lambda *_: next(readings), NOW + timedelta(minutes=2))
    assert app.status.revision.current == first and app.status.revision.candidate == second
    assert app.status.rollout.phase == "Failed"
    assert images(app) == {"bot": "registry.example/chat:1.0.0"}
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "RolledBack")]
    status = observed_status(app, result, None, None, NOW)
    degraded = next(c for c in status.conditions if c.type == "Degraded")
    assert degraded.status == "True" and degraded.reason == "BakeFailed"
    assert "TTFT p95 3100 ms > SLO 1500 ms over the last 2m" in degraded.message
    # The same (bad) spec stays rolled back: no new gate, nothing observed.
    again = step(app, lambda *_: pytest.fail("not baking"), NOW + timedelta(minutes=3))
    assert app.status.rollout.phase == "Failed" and again.start_run is None and not again.events


def test_without_prometheus_promotion_says_it_did_not_bake(app: ChatApplication) -> None:
    step(app, None)
    app.spec.image = "registry.example/chat:2.0.0"
    step(app, None)
    result = step(app, None)
    assert app.status.rollout.phase == "Idle"
    assert ("Warning", "BakeSkipped") in [(e.type, e.reason) for e in result.events]


def test_new_spec_during_bake_starts_its_gate(app: ChatApplication) -> None:
    promoted_v2(app, lambda *_: HEALTHY)
    app.spec.image = "registry.example/chat:3.0.0"
    result = step(app, lambda *_: pytest.fail("a new gate, not the bake"))
    assert app.status.rollout.phase == "Testing" and result.start_run

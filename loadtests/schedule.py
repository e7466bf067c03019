"""How many users run at each second of a scenario: constant, a sudden x5 spike, or calibration steps.

Every schedule has an end, so a run stops by itself even when Locust is started without --run-time.
Pure time arithmetic, kept apart from Locust's LoadTestShape so the timing is unit-testable.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatfleet.loadtests.calibration import plan_steps

DEFAULT_RUN_SECONDS = 60.0
STEP_WARMUP_FRACTION = 0.3


@dataclass(frozen=True)
class Schedule:
    """`phases` are (until_second, users, spawn_rate); `steps` is set for calibration runs only."""

    phases: tuple[tuple[float, int, float], ...]
    step_seconds: float = 0.0
    step_users: tuple[int, ...] = ()

    @property
    def duration(self) -> float:
        return self.phases[-1][0]

    def at(self, elapsed: float) -> tuple[int, float] | None:
        """(users, spawn rate) at `elapsed` seconds, or None once the run is over."""
        for until, users, rate in self.phases:
            if elapsed < until:
                return users, rate
        return None

    def step_label(self, elapsed: float) -> str | None:
        """For calibration: which step a request started at `elapsed` measures; None while users ramp."""
        if not self.step_users or elapsed >= self.duration:
            return None
        index = int(elapsed // self.step_seconds)
        if elapsed - index * self.step_seconds < self.step_seconds * STEP_WARMUP_FRACTION:
            return None
        return step_name(self.step_users[index])

    @property
    def measured_seconds_per_step(self) -> float:
        return self.step_seconds * (1 - STEP_WARMUP_FRACTION)


def step_name(users: int) -> str:
    return f"step {users:04d} users"


def constant(users: int, spawn_rate: float, seconds: float) -> Schedule:
    return Schedule(((seconds, users, spawn_rate),))


def spike(users: int, spawn_rate: float, seconds: float, factor: int) -> Schedule:
    """Base load for a third, then `factor` times the users at once (within a second), then back."""
    peak = users * factor
    sudden = max(spawn_rate, float(peak - users))
    return Schedule(
        ((seconds / 3, users, spawn_rate), (2 * seconds / 3, peak, sudden), (seconds, users, sudden))
    )


def calibration_steps(max_users: int, step_seconds: float) -> Schedule:
    """Evenly spaced user counts, each held for `step_seconds`, all users of a step started at once."""
    if step_seconds <= 0:
        raise ValueError("calibration step seconds must be positive")
    users = plan_steps(max_users)
    phases = tuple(((i + 1) * step_seconds, n, float(max(n, 1) * 10)) for i, n in enumerate(users))
    return Schedule(phases, step_seconds=step_seconds, step_users=tuple(users))


def for_scenario(
    scenario: str, users: int, spawn_rate: float, run_seconds: float | None, factor: int
) -> Schedule:
    if users < 1:
        raise ValueError("users must be at least 1")
    if spawn_rate <= 0:
        raise ValueError("spawn rate must be positive")
    seconds = float(run_seconds) if run_seconds else DEFAULT_RUN_SECONDS
    if scenario == "spike":
        return spike(users, spawn_rate, seconds, factor)
    return constant(users, spawn_rate, seconds)

"""The locustfile's own command-line options and the run plan every Locust process derives from them.

They are Locust custom arguments, so `locust -f <locustfile> --scenario spike ...` works for SREs, the web UI
shows them, and a distributed master forwards them to its workers; `chatfleet loadtest` passes the same
flags to its Locust subprocess. Bearer tokens are read from the environment only, never from argv (argv is
visible in `ps` and in a Job's spec).
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from chatfleet.contracts.loadtest import TOKEN_ENV
from chatfleet.loadtests import schedule
from chatfleet.loadtests.conversations import ConversationBook, default_conversations_path, load_conversations
from chatfleet.loadtests.tenancy import TenantCorpus
from chatfleet.paths import SAMPLE_CORPUS_DIR


class Scenario(StrEnum):
    STEADY = "steady"
    SPIKE = "spike"
    FAILOVER = "failover"
    LONG_ANSWERS = "long-answers"
    MULTI_TENANT = "multi-tenant"


class FaultKind(StrEnum):
    ERROR = "error"  # the upstream answers 503
    THROTTLE = "throttle"  # the upstream answers 429


SCENARIOS = tuple(s.value for s in Scenario)
FAULT_KINDS = tuple(k.value for k in FaultKind)
DEFAULT_TENANTS = ("contoso", "fabrikam")
SPIKE_FACTOR = 5
LONG_ANSWER_MAX_TOKENS = 1024


def default_corpus_dir() -> Path:
    """The sample corpus of the checkout, or the copy an installed wheel carries."""
    return SAMPLE_CORPUS_DIR


def token_env_for(tenant: str) -> str:
    """`CHATFLEET_LOADTEST_TOKEN_CONTOSO` holds the token of tenant contoso's test user."""
    return f"{TOKEN_ENV}_{tenant.upper().replace('-', '_')}"


def add_arguments(parser: Any) -> None:
    """Registers the options on Locust's parser (called from the init_command_line_parser event)."""
    group = parser.add_argument_group("chatfleet", "Chat SLO scenarios (chatfleet.loadtests)")
    group.add_argument("--scenario", choices=SCENARIOS, default="steady", help="Load scenario to run.")
    group.add_argument(
        "--tenants",
        default="",
        help="Comma-separated tenants the users act for; users alternate between them "
        f"(default: {DEFAULT_TENANTS[0]}, or {','.join(DEFAULT_TENANTS)} for multi-tenant).",
    )
    group.add_argument(
        "--conversations", default=str(default_conversations_path()), help="JSON-lines conversations file."
    )
    group.add_argument(
        "--corpus-dir",
        default=str(default_corpus_dir()),
        help="Folder <tenant>/<documents> used to check that citations stay within the user's tenant.",
    )
    group.add_argument(
        "--think-time-min", type=float, default=0.5, help="Seconds a user waits between turns."
    )
    group.add_argument(
        "--think-time-max", type=float, default=2.0, help="Upper bound of the wait between turns."
    )
    group.add_argument("--slo-ttft-p95-ms", type=float, default=None, help="TTFT p95 SLO (ms).")
    group.add_argument("--slo-error-rate-percent", type=float, default=None, help="Error-rate SLO (%%).")
    group.add_argument(
        "--slo-min-tokens-per-second", type=float, default=None, help="Per-stream tokens/s SLO."
    )
    group.add_argument(
        "--summary-file", default="", help="Write the run's measurements (JSON) here when Locust quits."
    )
    group.add_argument(
        "--simulator-admin", default="", help="Simulator base URL whose /_sim API injects faults."
    )
    group.add_argument("--fault-deployment", default="", help="Upstream to break (default: the busiest one).")
    group.add_argument(
        "--fault-kind", choices=FAULT_KINDS, default="error", help="error: 503s; throttle: 429s."
    )
    group.add_argument(
        "--fault-at", type=float, default=1 / 3, help="Fraction of the run time after which the fault starts."
    )
    group.add_argument(
        "--calibrate-max-users", type=int, default=0, help="Stepped calibration up to N users."
    )
    group.add_argument("--calibrate-step-seconds", type=float, default=10.0, help="Duration of each step.")


@dataclass
class RunPlan:
    """What this Locust process does, derived once from the parsed options."""

    scenario: str
    tenants: list[str]
    book: ConversationBook
    corpus: TenantCorpus
    think_time: tuple[float, float]
    schedule: schedule.Schedule
    _turn: itertools.count = field(default_factory=itertools.count)

    @classmethod
    def from_options(cls, options: Any) -> RunPlan:
        multi = options.scenario == "multi-tenant"
        tenants = [t.strip() for t in str(options.tenants or "").split(",") if t.strip()]
        if not tenants:
            tenants = list(DEFAULT_TENANTS) if multi else [DEFAULT_TENANTS[0]]
        if multi and len(set(tenants)) < 2:
            raise ValueError("--tenants: the multi-tenant scenario needs at least two tenants")
        book = ConversationBook.of(load_conversations(Path(options.conversations)))
        book.require(tenants, long=options.scenario == "long-answers")
        calibrating = options.calibrate_max_users > 0
        think = (0.0, 0.0) if calibrating else (options.think_time_min, options.think_time_max)
        if think[0] < 0 or think[1] < think[0]:
            raise ValueError("think time must satisfy 0 <= --think-time-min <= --think-time-max")
        return cls(
            scenario=options.scenario,
            tenants=tenants,
            book=book,
            corpus=TenantCorpus.from_directory(Path(options.corpus_dir))
            if options.corpus_dir
            else TenantCorpus({}),
            think_time=think,
            schedule=schedule.calibration_steps(options.calibrate_max_users, options.calibrate_step_seconds)
            if calibrating
            else schedule.for_scenario(
                options.scenario,
                options.num_users or 1,
                options.spawn_rate or 1.0,
                options.run_time,
                SPIKE_FACTOR,
            ),
        )

    @property
    def calibrating(self) -> bool:
        return bool(self.schedule.step_users)

    def step_label(self, environment: Any) -> str | None:
        """The calibration step a request starting now measures (None outside calibration runs)."""
        shape = environment.shape_class
        if not self.calibrating or shape is None:
            return None
        return self.schedule.step_label(shape.get_run_time())

    def next_tenant(self) -> str:
        """Users alternate over the tenants, so every tenant has traffic at any user count >= tenants."""
        return self.tenants[next(self._turn) % len(self.tenants)]

    def token_for(self, tenant: str) -> str | None:
        return os.environ.get(token_env_for(tenant)) or os.environ.get(TOKEN_ENV) or None


_plans: dict[int, RunPlan] = {}
_plans_lock = threading.Lock()


def plan_for(environment: Any) -> RunPlan:
    """The plan of this process, built on first use: workers only know the options once the master spawns."""
    key = id(environment)
    with _plans_lock:
        if key not in _plans:
            _plans[key] = RunPlan.from_options(environment.parsed_options)
        return _plans[key]

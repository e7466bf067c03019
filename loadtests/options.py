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

from chatfleet.bearer import TokenFile
from chatfleet.contracts.loadtest import DEFAULT_SLO, TOKEN_ENV, TOKEN_FILE_ENV, Slo, token_env_for
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


def _in_web_ui(action: Any, shown: bool = True) -> None:
    """Locust's form lists the actions its own add_argument marks; an argument group's add_argument is
    plain argparse's, so the marks are set here (without them the web UI showed none of these options)."""
    action.include_in_web_ui = shown
    action.is_secret = action.is_required = action.is_multiple = False


def add_arguments(parser: Any) -> None:
    """Registers the options on Locust's parser (called from the init_command_line_parser event).

    The scenario, tenants, think times, SLOs and fault settings appear in the web UI's form; file paths
    and the calibration/summary plumbing of `chatfleet loadtest` do not.
    """
    group = parser.add_argument_group("chatfleet", "Chat SLO scenarios (chatfleet.loadtests)")

    def option(*flags: str, web_ui: bool = True, **kwargs: Any) -> None:
        _in_web_ui(group.add_argument(*flags, **kwargs), web_ui)

    option("--scenario", choices=SCENARIOS, default="steady", help="Load scenario to run.")
    option(
        "--tenants",
        default="",
        help="Comma-separated tenants the users act for; users alternate between them "
        f"(default: {DEFAULT_TENANTS[0]}, or {','.join(DEFAULT_TENANTS)} for multi-tenant).",
    )
    option(
        "--conversations",
        default=str(default_conversations_path()),
        web_ui=False,
        help="JSON-lines conversations file.",
    )
    option(
        "--corpus-dir",
        default=str(default_corpus_dir()),
        web_ui=False,
        help="Folder <tenant>/<documents> used to check that citations stay within the user's tenant.",
    )
    option("--think-time-min", type=float, default=0.5, help="Seconds a user waits between turns.")
    option("--think-time-max", type=float, default=2.0, help="Upper bound of the wait between turns.")
    option("--slo-ttft-p95-ms", type=float, default=DEFAULT_SLO.ttft_p95_ms, help="TTFT p95 SLO (ms).")
    option(
        "--slo-error-rate-percent",
        type=float,
        default=DEFAULT_SLO.error_rate_percent,
        help="Error-rate SLO (%%).",
    )
    option(
        "--slo-min-tokens-per-second",
        type=float,
        default=DEFAULT_SLO.min_tokens_per_second,
        help="Per-stream tokens/s SLO.",
    )
    option(
        "--summary-file",
        default="",
        web_ui=False,
        help="Write the run's measurements (JSON) here when Locust quits.",
    )
    option("--simulator-admin", default="", help="Simulator base URL whose /_sim API injects faults.")
    option("--fault-deployment", default="", help="Upstream to break (default: the busiest one).")
    option("--fault-kind", choices=FAULT_KINDS, default="error", help="error: 503s; throttle: 429s.")
    option(
        "--fault-at", type=float, default=1 / 3, help="Fraction of the run time after which the fault starts."
    )
    option(
        "--calibrate-max-users", type=int, default=0, web_ui=False, help="Stepped calibration up to N users."
    )
    option("--calibrate-step-seconds", type=float, default=10.0, web_ui=False, help="Duration of each step.")
    option(
        "--progress-interval",
        type=float,
        default=5.0,
        web_ui=False,
        help="Headless runs: seconds between progress lines on stderr (0: none).",
    )


def slo_from_options(options: Any) -> Slo:
    """The SLOs of this run; the web UI hands numbers back as typed (floats), the command line too."""
    return Slo(
        float(options.slo_ttft_p95_ms),
        float(options.slo_error_rate_percent),
        float(options.slo_min_tokens_per_second),
    )


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
    _minted: TokenFile = field(default_factory=lambda: TokenFile())

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
        """A minted token (its file is rewritten before expiry) wins over the static variables."""
        minted = os.environ.get(TOKEN_FILE_ENV)
        if minted:
            return self._minted.read(Path(minted))
        return os.environ.get(token_env_for(tenant)) or os.environ.get(TOKEN_ENV) or None


PLAN_OPTIONS = (
    "scenario",
    "tenants",
    "conversations",
    "corpus_dir",
    "think_time_min",
    "think_time_max",
    "calibrate_max_users",
    "calibrate_step_seconds",
    "num_users",
    "spawn_rate",
    "run_time",
)
_plans: dict[int, tuple[tuple[Any, ...], RunPlan]] = {}
_plans_lock = threading.Lock()


def plan_for(environment: Any) -> RunPlan:
    """The plan of the options in force now, built on first use and again whenever they change.

    Workers only know the options once the master spawns; the web UI's form changes them between runs
    (a second run with another user count must use it, not the first run's plan).
    """
    options = environment.parsed_options
    values = tuple(getattr(options, name, None) for name in PLAN_OPTIONS)
    key = id(environment)
    with _plans_lock:
        cached = _plans.get(key)
        if cached is None or cached[0] != values:
            cached = (values, RunPlan.from_options(options))
            _plans[key] = cached
        return cached[1]

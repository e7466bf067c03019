"""One interface for "run the gate of a candidate (load test, and evaluation when configured) and tell me
the verdict", wherever it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chatfleet.contracts.loadtest import TokenSource
from chatfleet.controller.rollout.evaluation import eval_args
from chatfleet.controller.rollout.verdict import GateVerdict
from chatfleet.controller.spec import Evaluation, LoadTest

CONVERSATIONS_FILE = "conversations.jsonl"  # the app's conversations, as the runners place them


@dataclass(frozen=True)
class GateRun:
    """Everything a runner needs to test one candidate revision of one ChatApplication."""

    app: str
    namespace: str
    uid: str
    name: str  # run name (the Job's name): <app>-gate-<revision>-<generation>
    revision: str
    target: str  # base URL of the candidate (the canary Service)
    image: str  # load-test image (the load tests ship in the chatfleet image)
    load_test: LoadTest
    calibrate: bool  # no streamsPerReplica in the spec: find the knee
    timeout_seconds: int
    evaluation: Evaluation | None = None  # answer-quality check run beside the load test
    tenants: tuple[str, ...] = ()  # spec.tenants: who the app's own conversations act for
    audience: str = ""  # spec.auth.audience: what a minted token is for
    judge_endpoint: str | None = None  # the evaluation's judge: its endpoint (spec's, else the pool's first)
    judge_api_key: str | None = None  # operator dev mode only: the local simulator's placeholder (no secret)

    def loadtest_args(
        self, json_file: str, termination_message: str, conversations_file: str | None = None
    ) -> list[str]:
        """`chatfleet loadtest` arguments with the spec's SLOs (H5's CLI contract); `conversations_file`
        is where the runner put the app's conversations (when the spec names them)."""
        lt = self.load_test
        args = [
            "loadtest",
            "--host", self.target,
            "--scenario", lt.scenario,
            "--users", str(lt.users),
            "--spawn-rate", f"{lt.spawn_rate:g}",
            "--run-time", lt.duration,
            "--slo-ttft-p95-ms", f"{lt.slo.ttft_p95_ms:g}",
            "--slo-error-rate-percent", f"{lt.slo.error_rate_percent:g}",
            "--slo-min-tokens-per-second", f"{lt.slo.min_tokens_per_second:g}",
            "--json", json_file,
            "--termination-message", termination_message,
        ]  # fmt: skip
        if self.calibrate:
            args += ["--calibrate", "--max-users", str(lt.users)]
        if lt.conversations is not None and conversations_file is not None:
            # the app's conversations are for the app's tenants (none listed: every tenant in the file)
            args += ["--conversations", conversations_file]
            for tenant in self.tenants:
                args += ["--tenant", tenant]
        return args + self.token_args()

    def token_args(self) -> list[str]:
        """`--token-source/--token-scope` of a minted token (both clients accept them); none for static."""
        source = self.token_source
        if source == TokenSource.STATIC:
            return []
        return ["--token-source", source.value, "--token-scope", f"{self.audience}/.default"]

    @property
    def token_source(self) -> TokenSource:
        """A Secret's token as given, or one `chatfleet loadtest` mints per run."""
        token = self.load_test.token
        if token is None or token.static_secret is not None:
            return TokenSource.STATIC
        if token.client_credentials is not None:
            return TokenSource.CLIENT_CREDENTIALS
        return TokenSource.WORKLOAD_IDENTITY

    def evaluation_args(
        self, set_file: str, termination_message: str, json_file: str | None = None
    ) -> list[str]:
        """`chatfleet eval run` arguments against the candidate (only when an evaluation is configured)."""
        assert self.evaluation is not None
        args = eval_args(
            self.evaluation, self.target, set_file, termination_message, json_file, self.judge_endpoint
        )
        return args + self.token_args()


class GateRunner(Protocol):
    """Starts, polls and cancels gate runs; every method is idempotent and safe to repeat after a crash."""

    def start(self, run: GateRun) -> None:
        """Starts the run unless it already exists."""

    def poll(self, run: GateRun) -> GateVerdict | None:
        """The verdict once the run finished; None while it runs (restarting it if it vanished)."""

    def cancel(self, run_name: str, namespace: str) -> None:
        """Stops and removes a run (superseded or timed out); no error if it is already gone."""

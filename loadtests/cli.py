"""`chatfleet loadtest`: a chat SLO load test with a verdict, for SREs and the operator's rollout gate.

Exit codes and the JSON summary are the contract with the gate (chatfleet.contracts.loadtest): 0 every SLO
holds, 1 an SLO failed (or the load generator did), 2 usage error, 3 target unreachable. Heavy modules
load inside the command; Locust itself only ever runs in a subprocess.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from chatfleet.contracts.loadtest import (
    DEFAULT_SLO,
    EXIT_PASSED,
    EXIT_SLO_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    TOKEN_ENV,
    TokenSource,
)

# the locustfile's own choices (options.py imports no Locust, so the CLI stays light)
from chatfleet.loadtests.options import FaultKind, Scenario

_TIMESPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_run_time(text: str) -> float:
    """`90`, `90s`, `2m`, `1h30m`, `1m30s` -> seconds (Locust's own time spans)."""
    match = _TIMESPAN.match(text.strip())
    if not text.strip() or match is None:
        raise typer.BadParameter(f"'{text}' is not a duration like 90s, 2m or 1h30m", param_hint="--run-time")
    hours, minutes, seconds = match.groups()
    total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    if total <= 0:
        raise typer.BadParameter("must be longer than 0 s", param_hint="--run-time")
    return total


def _require(value: Any, flag: str) -> Any:
    if value is None:
        raise typer.BadParameter("is required", param_hint=flag)
    return value


def _write(path: Path | None, text: str, flag: str) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        typer.echo(f"error: cannot write {flag} {path}: {error.strerror}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def loadtest(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None, "--host", help="Base URL of the chat service, e.g. http://127.0.0.1:8000."
    ),
    scenario: Annotated[Scenario, typer.Option("--scenario", help="Load scenario to run.")] = Scenario.STEADY,
    users: int = typer.Option(10, "--users", min=1, help="Concurrent users (spike: the base, peak is x5)."),
    spawn_rate: float | None = typer.Option(None, "--spawn-rate", min=0.01, help="Users started per second."),
    run_time: str = typer.Option("60s", "--run-time", help="Duration, e.g. 30s, 2m."),
    slo_ttft_p95_ms: float = typer.Option(
        DEFAULT_SLO.ttft_p95_ms, "--slo-ttft-p95-ms", min=0, help="TTFT p95 limit (ms); default: the CRD's."
    ),
    slo_error_rate_percent: float = typer.Option(
        DEFAULT_SLO.error_rate_percent,
        "--slo-error-rate-percent",
        min=0,
        max=100,
        help="Error-rate limit (%); default: the CRD's.",
    ),
    slo_min_tokens_per_second: float = typer.Option(
        DEFAULT_SLO.min_tokens_per_second,
        "--slo-min-tokens-per-second",
        min=0,
        help="Minimum median per-stream tokens/s; default: the CRD's.",
    ),
    json_file: Annotated[Path | None, typer.Option("--json", help="Write the JSON summary here.")] = None,
    termination_message: Annotated[
        Path | None,
        typer.Option(
            "--termination-message", help="Write a compact summary (< 4096 bytes), e.g. /dev/termination-log."
        ),
    ] = None,
    csv_prefix: str = typer.Option("", "--csv", help="Also write Locust's CSV statistics with this prefix."),
    html_report: str = typer.Option("", "--html", help="Also write Locust's HTML report to this file."),
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="Tenant the users act for (repeat).")
    ] = None,
    simulator_admin: str = typer.Option("", "--simulator-admin", help="Simulator URL for failover's faults."),
    fault_deployment: str = typer.Option(
        "", "--fault-deployment", help="Upstream failover breaks (default: busiest)."
    ),
    fault_kind: Annotated[
        FaultKind, typer.Option("--fault-kind", help="error (503s) or throttle (429s).")
    ] = FaultKind.ERROR,
    token: str | None = typer.Option(
        None,
        "--token",
        envvar=TOKEN_ENV,
        show_default=False,
        help="Bearer token (auth on); prefer the environment variable, argv is visible to other users.",
    ),
    token_source: Annotated[
        TokenSource,
        typer.Option(
            "--token-source",
            help="static: the token variables as given; client-credentials (AZURE_TENANT_ID, "
            "AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) or workload-identity: mint a token of --token-scope per "
            "run, kept fresh.",
        ),
    ] = TokenSource.STATIC,
    token_scope: str | None = typer.Option(
        None, "--token-scope", help="Scope of a minted token: the app's audience + /.default."
    ),
    conversations: Annotated[
        Path | None,
        typer.Option(
            "--conversations",
            help="JSON-lines conversations file; without --tenant, its users act for every tenant in it.",
        ),
    ] = None,
    corpus_dir: Annotated[
        Path | None, typer.Option("--corpus-dir", help="<tenant>/<documents> for the leak check.")
    ] = None,
    think_time_min: float | None = typer.Option(
        None, "--think-time-min", min=0, help="Seconds between turns."
    ),
    think_time_max: float | None = typer.Option(
        None, "--think-time-max", min=0, help="Max seconds between turns."
    ),
    wait_for_target: float = typer.Option(
        30.0, "--wait-for-target", min=0, help="Seconds to wait for the target to answer HTTP before exit 3."
    ),
    calibrate: bool = typer.Option(
        False, "--calibrate", help="Also calibrate streamsPerReplica (stepped load)."
    ),
    max_users: int | None = typer.Option(
        None, "--max-users", min=1, help="Calibration: highest step's users."
    ),
    calibrate_step_seconds: float = typer.Option(
        10.0, "--calibrate-step-seconds", min=1, help="Seconds per step."
    ),
    progress_interval: float = typer.Option(
        5.0, "--progress-interval", min=0, help="Seconds between progress lines on stderr (0: none)."
    ),
) -> None:
    """Run a chat SLO load test headless and judge it; exit 0 only if every SLO holds."""
    if ctx.invoked_subcommand is not None:
        return
    from chatfleet.bearer import TokenSourceError, minted_token_file
    from chatfleet.contracts.loadtest import Slo
    from chatfleet.loadtests.conversations import (
        ConversationBook,
        ConversationFileError,
        default_conversations_path,
        load_conversations,
    )
    from chatfleet.loadtests.options import DEFAULT_TENANTS
    from chatfleet.loadtests.runner import LoadGeneratorFailed, LoadTest, TargetUnreachable, run
    from chatfleet.loadtests.summary import (
        build_summary,
        empty_measurement,
        render_calibration,
        render_table,
    )
    from chatfleet.loadtests.termination import termination_message as compact

    host = _require(host, "--host").rstrip("/")
    if not re.match(r"^https?://[^/\s]+", host):
        raise typer.BadParameter(f"'{host}' is not an http(s) URL", param_hint="--host")
    if scenario == "failover" and not simulator_admin:
        raise typer.BadParameter(
            "the failover scenario needs the simulator's URL", param_hint="--simulator-admin"
        )
    if token_source != TokenSource.STATIC and not token_scope:
        raise typer.BadParameter(
            f"is required with --token-source {token_source.value}, e.g. api://support-bot/.default",
            param_hint="--token-scope",
        )
    if calibrate and max_users is None:
        raise typer.BadParameter("--calibrate needs the highest step's user count", param_hint="--max-users")
    slo = Slo(slo_ttft_p95_ms, slo_error_rate_percent, slo_min_tokens_per_second)
    seconds = parse_run_time(run_time)
    try:
        book = ConversationBook.of(load_conversations(conversations or default_conversations_path()))
    except ConversationFileError as error:
        raise typer.BadParameter(str(error), param_hint="--conversations") from None
    # an app's own conversations are for its own tenants: all of them unless --tenant picks some
    tenants = tuple(tenant or (sorted(book.by_tenant) if conversations else ()))
    if scenario == "multi-tenant" and len(set(tenants or DEFAULT_TENANTS)) < 2:
        raise typer.BadParameter(
            "the multi-tenant scenario needs at least two tenants", param_hint="--tenant"
        )
    if scenario == "multi-tenant" and users < len(set(tenants or DEFAULT_TENANTS)):
        raise typer.BadParameter("multi-tenant needs at least one user per tenant", param_hint="--users")
    think = None
    if think_time_min is not None or think_time_max is not None:
        low = think_time_min if think_time_min is not None else 0.0
        high = think_time_max if think_time_max is not None else max(low, 2.0)
        if high < low:
            raise typer.BadParameter("must not be below --think-time-min", param_hint="--think-time-max")
        think = (low, high)
    wanted = list(tenants) or (list(DEFAULT_TENANTS) if scenario == "multi-tenant" else [DEFAULT_TENANTS[0]])
    try:
        book.require(wanted, long=scenario == "long-answers")
    except ConversationFileError as error:
        raise typer.BadParameter(str(error), param_hint="--conversations") from None
    if corpus_dir is not None and not corpus_dir.is_dir():
        raise typer.BadParameter(f"{corpus_dir} is not a folder", param_hint="--corpus-dir")

    test = LoadTest(
        host=host,
        scenario=scenario.value,
        users=users,
        spawn_rate=spawn_rate or float(users),
        run_time_s=seconds,
        slo=slo,
        tenants=tenants,
        simulator_admin=simulator_admin,
        fault_deployment=fault_deployment,
        fault_kind=fault_kind.value,
        csv_prefix=csv_prefix,
        html_report=html_report,
        conversations=str(conversations) if conversations else "",
        # an app's own conversations are about its own documents, not the sample corpus: without
        # --corpus-dir, no leak check (rather than false leaks on same-named sample documents)
        corpus_dir=str(corpus_dir) if corpus_dir else ("" if conversations else None),
        think_time=think,
        calibrate_max_users=max_users if calibrate and max_users else 0,
        calibrate_step_s=calibrate_step_seconds,
        wait_for_target_s=wait_for_target,
        progress_interval_s=progress_interval,
        token=token,
    )
    code = EXIT_SLO_FAILED
    try:
        with minted_token_file(token_source, token_scope or "") as token_file:
            summary = run(dataclasses.replace(test, token_file=str(token_file) if token_file else None))
        code = EXIT_PASSED if summary["passed"] else EXIT_SLO_FAILED
    except (TargetUnreachable, LoadGeneratorFailed, TokenSourceError) as error:
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        summary = build_summary(
            empty_measurement(now),
            slo,
            scenario=scenario.value,
            host=host,
            users=users,
            run_time_seconds=seconds,
        )
        summary["passed"] = False
        summary["error"] = str(error)
        code = {TargetUnreachable: EXIT_UNREACHABLE, TokenSourceError: EXIT_USAGE}.get(
            type(error), EXIT_SLO_FAILED
        )
    _write(json_file, json.dumps(summary, indent=2) + "\n", "--json")
    _write(termination_message, compact(summary), "--termination-message")
    if "error" in summary:
        typer.echo(f"error: {summary['error']}", err=True)
    else:
        typer.echo(render_table(summary))
    if "calibration" in summary:
        typer.echo(render_calibration(summary["calibration"]))
    raise typer.Exit(code)


def locustfile_path() -> None:
    """Print the locustfile's path: `locust -f $(chatfleet loadtest locustfile-path) --master`."""
    from chatfleet.loadtests.runner import locustfile_path as path

    typer.echo(str(path()))


def register(app: typer.Typer) -> None:
    """Adds `chatfleet loadtest` (and `chatfleet loadtest locustfile-path`) to the root CLI."""
    group = typer.Typer(
        help="Chat SLO load tests (Locust): run a scenario and judge it against the SLOs.",
        pretty_exceptions_enable=False,
    )
    group.callback(invoke_without_command=True)(loadtest)
    group.command("locustfile-path")(locustfile_path)
    app.add_typer(group, name="loadtest")

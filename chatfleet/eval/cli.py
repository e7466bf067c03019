"""`chatfleet eval run` and `chatfleet eval compare`: answer quality with a verdict, for app teams and gates.

Exit codes (chatfleet.contracts.evaluation): 0 every threshold holds, 1 a threshold failed (the table and the
report name it), 2 usage error or no verdict possible (bad eval set, unreachable service, refused
credentials): one `error:` line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION
from chatfleet.contracts.evaluation import EXIT_NO_VERDICT, EXIT_PASSED, EXIT_THRESHOLD_FAILED, JUDGE_METRICS
from chatfleet.contracts.loadtest import TOKEN_ENV, TokenSource


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_NO_VERDICT)


def _write(path: Path | None, text: str, flag: str) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise _fail(f"cannot write {flag} {path}: {error.strerror}") from None


def run(
    host: Annotated[str, typer.Option("--host", help="Base URL of the chat service.")],
    set_name: Annotated[
        str, typer.Option("--set", help="Eval set (JSON lines), or `sample` for the sample corpus's set.")
    ],
    json_file: Annotated[Path | None, typer.Option("--json", help="Write the JSON report here.")] = None,
    termination_message: Annotated[
        Path | None,
        typer.Option(
            "--termination-message", help="Write a compact verdict (< 4096 bytes), e.g. /dev/termination-log."
        ),
    ] = None,
    minimum: Annotated[
        list[str] | None,
        typer.Option("--min", help="METRIC=VALUE a score must reach, e.g. groundedness=0.8 (repeat)."),
    ] = None,
    maximum: Annotated[
        list[str] | None,
        typer.Option("--max", help="METRIC=VALUE a latency must not exceed, e.g. ttft_p95_ms=2000 (repeat)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=TOKEN_ENV,
            show_default=False,
            help="Bearer token (auth on); per tenant: CHATFLEET_LOADTEST_TOKEN_<TENANT>. Prefer the "
            "environment, argv is visible to other users.",
        ),
    ] = None,
    token_source: Annotated[
        TokenSource,
        typer.Option(
            "--token-source",
            help="static: the token variables as given; client-credentials or workload-identity: mint a "
            "token of --token-scope for this run (as `chatfleet loadtest` does).",
        ),
    ] = TokenSource.STATIC,
    token_scope: Annotated[
        str | None,
        typer.Option("--token-scope", help="Scope of a minted token: the app's audience + /.default."),
    ] = None,
    embedder: Annotated[
        str, typer.Option("--embedder", help="Local embedder for groundedness: wordllama or minilm.")
    ] = "wordllama",
    wait_for_target: Annotated[
        float,
        typer.Option("--wait-for-target", min=0, help="Seconds to wait for the service to answer HTTP."),
    ] = 0.0,
    judge_deployment: Annotated[
        str | None,
        typer.Option(
            "--judge-deployment",
            help="Azure OpenAI deployment that rates each answer (judge_groundedness, judge_relevance, "
            "1-5); off by default.",
        ),
    ] = None,
    judge_endpoint: Annotated[
        str | None,
        typer.Option(
            "--judge-endpoint",
            envvar="CHATFLEET_JUDGE_ENDPOINT",
            help="Azure OpenAI endpoint of the judge deployment, e.g. https://aoai-east.openai.azure.com.",
        ),
    ] = None,
    judge_api_version: Annotated[
        str, typer.Option("--judge-api-version", help="Azure OpenAI REST api-version of the judge calls.")
    ] = DEFAULT_API_VERSION,
    judge_api_key: Annotated[
        str | None,
        typer.Option(
            "--judge-api-key",
            envvar="CHATFLEET_JUDGE_API_KEY",
            show_default=False,
            help="API key of the judge's endpoint; Entra ID (DefaultAzureCredential) without one. Prefer "
            "the environment, argv is visible to other users.",
        ),
    ] = None,
) -> None:
    """Run an eval set against a chat service, print the scores, exit 0 only if every threshold holds."""
    import logging

    for name in ("httpx", "httpx2"):  # one INFO line per call (the judge's through the openai SDK) would
        logging.getLogger(name).setLevel(logging.WARNING)  # bury the table
    from chatfleet.bearer import TokenSourceError, minted_token_file
    from chatfleet.chat.embeddings import EMBEDDER_NAMES, EmbedderUnavailable
    from chatfleet.eval.cases import EvalSetError, load_eval_set, resolve_set_path
    from chatfleet.eval.client import ServiceUnreachable
    from chatfleet.eval.judge import Judge, JudgeSettings, JudgeUnavailable
    from chatfleet.eval.report import Threshold, ThresholdError, render_table
    from chatfleet.eval.runner import run_eval
    from chatfleet.eval.termination import termination_message as compact

    host = host.rstrip("/")
    if not re.match(r"^https?://[^/\s]+", host):
        raise _fail(f"--host {host!r} is not an http(s) URL")
    if token_source != TokenSource.STATIC and not token_scope:
        raise _fail(
            f"--token-source {token_source.value} needs --token-scope, e.g. api://support-bot/.default"
        )
    if embedder not in EMBEDDER_NAMES:
        raise _fail(f"--embedder {embedder!r} is not one of {', '.join(EMBEDDER_NAMES)}")
    try:
        thresholds = [Threshold.parse(t, "min") for t in minimum or ()]
        thresholds += [Threshold.parse(t, "max") for t in maximum or ()]
        eval_set = load_eval_set(resolve_set_path(set_name))
    except (ThresholdError, EvalSetError) as error:
        raise _fail(str(error)) from None
    judge = None
    if judge_deployment is None:
        if needs := sorted({t.metric for t in thresholds} & set(JUDGE_METRICS)):
            raise _fail(f"--min {needs[0]} needs a judge: give --judge-deployment and --judge-endpoint")
    else:
        if not judge_endpoint:
            raise _fail("--judge-deployment needs --judge-endpoint (or CHATFLEET_JUDGE_ENDPOINT)")
        try:
            settings = JudgeSettings(
                judge_endpoint.rstrip("/"), judge_deployment, judge_api_version, judge_api_key
            )
        except ValueError as error:
            raise _fail(str(error)) from None
        judge = Judge(settings)
    try:
        with minted_token_file(token_source, token_scope or "") as token_file:
            report = run_eval(
                host=host,
                set_name=set_name,
                eval_set=eval_set,
                thresholds=thresholds,
                token=token,
                token_file=token_file,
                embedder=embedder,
                wait_for_target_s=wait_for_target,
                judge=judge,
            )
    except (ServiceUnreachable, EmbedderUnavailable, TokenSourceError, JudgeUnavailable) as error:
        _write(termination_message, compact({"error": str(error)}), "--termination-message")
        raise _fail(str(error)) from None
    finally:
        if judge is not None:
            judge.close()
    _write(json_file, json.dumps(report, indent=2, ensure_ascii=False) + "\n", "--json")
    _write(termination_message, compact(report), "--termination-message")
    typer.echo(render_table(report))
    raise typer.Exit(EXIT_PASSED if report["passed"] else EXIT_THRESHOLD_FAILED)


def compare(
    base: Annotated[Path, typer.Argument(help="Report of the baseline run (--json of `eval run`).")],
    new: Annotated[Path, typer.Argument(help="Report of the run to judge.")],
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="Exit 1 when any case got worse.")
    ] = False,
) -> None:
    """Per-case regressions and metric deltas between two eval reports of the same set."""
    from chatfleet.eval.compare import ReportError, load_report, render
    from chatfleet.eval.compare import compare as diff

    try:
        result = diff(load_report(base), load_report(new))
    except ReportError as error:
        raise _fail(str(error)) from None
    typer.echo(render(result))
    raise typer.Exit(EXIT_THRESHOLD_FAILED if fail_on_regression and result["regressions"] else EXIT_PASSED)


def import_feedback(
    history: Annotated[
        Path | None, typer.Option("--history", help="History SQLite file of the service (read-only).")
    ] = None,
    log: Annotated[
        Path | None, typer.Option("--log", help="The service's log (its feedback JSON lines).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the draft cases here (JSON lines); default stdout.")
    ] = None,
) -> None:
    """Thumbs-down answers as draft eval cases (`review: true`) for an app team to check and keep."""
    from chatfleet.eval.feedback_import import Imported, from_history, from_log

    if history is None and log is None:
        raise _fail("give --history FILE, --log FILE or both")
    imported = Imported()
    try:
        for path, read in ((history, from_history), (log, from_log)):
            if path is not None:
                part = read(path)
                imported.cases += part.cases
                imported.without_question += part.without_question
    except OSError as error:
        raise _fail(f"{error.filename}: {error.strerror or error}") from None
    except ValueError as error:
        raise _fail(str(error)) from None
    cases = list({case.id: case for case in imported.cases}.values())
    text = "".join(case.model_dump_json(exclude_defaults=True) + "\n" for case in cases)
    if out is None:
        typer.echo(text, nl=False)
    else:
        _write(out, text, "--out")
    note = f"{len(cases)} draft cases (review: true)"
    if imported.without_question:
        note += (
            f"; {imported.without_question} thumbs-down log lines skipped: no question in them "
            "(CHATFLEET_LOG_CONTENT off; keep history on to import those)"
        )
    typer.echo(note, err=True)


def register(app: typer.Typer) -> None:
    """Adds `chatfleet eval run`, `compare` and `import-feedback` to the root CLI."""
    group = typer.Typer(
        help="Answer-quality evaluation: run an eval set against a chat service, compare runs.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    group.command("run")(run)
    group.command("compare")(compare)
    group.command("import-feedback")(import_feedback)
    app.add_typer(group, name="eval")

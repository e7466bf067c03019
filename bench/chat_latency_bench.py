"""Added time-to-first-token of the chat service over calling the model (the simulator) directly.

Starts the simulator and the service (one uvicorn worker, dev mode, local sample index) as subprocesses on
loopback, then measures at each concurrency:
  * direct:   TTFT of a streamed chat completion sent straight to the simulator (the same answer prompt);
  * service:  TTFT of POST /chat/stream (first content line), retrieval included;
  * service - retrieval: the same, minus what the search added before the answer started (`retrieval_wait`
    in `Server-Timing`; with the default `CHATFLEET_GUARDS_OVERLAP=true` the screens run while the model
    works, so that is the whole search; with `false` the search overlaps the question screen and only the
    part of it that outlasted the screen is subtracted: the screen stays in the figure).
Added TTFT = service percentile - direct percentile. Targets (issue 4): added p50 <= 3 ms and p99 <= 15 ms
without retrieval at one worker; 256 concurrent streams with no error.

Conversation history: two services run side by side, one with `CHATFLEET_HISTORY_ENABLED=false` (the rows
above) and one recording every turn into a fresh SQLite file; each level alternates between them (off, on,
off, on) and a second table compares their TTFT and throughput (completed streams per second). Target
(issue 17): history adds at most 0.5 ms p50 at concurrency 1 and costs no throughput at 64.
With `--postgres-url postgresql://user:password@host:port/db` the second service keeps its history AND the
tenant budgets in that PostgreSQL database instead (`CHATFLEET_HISTORY_STORE=postgres`,
`CHATFLEET_BUDGET_STORE=postgres` with a budget too large to refuse, so every turn makes its reservation and
settlement round trips), against the first with neither (no history, no budget).

Usage: .venv/bin/python bench/chat_latency_bench.py [--concurrency 1 64 256] [--requests-per-level 400]
       [--postgres-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from psycopg.conninfo import conninfo_to_dict

from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION
from chatfleet.contracts.citations import citation_id, source_line
from chatfleet.contracts.tenancy import DEV_TENANT_HEADER

REPO = Path(__file__).resolve().parent.parent
CHATFLEET = [sys.executable, "-m", "chatfleet"]
QUESTIONS = {
    "contoso": [
        "How do I fix VPN error GP-4012?",
        "How long is parental leave?",
        "What is the hotel limit in London?",
        "How often are laptops replaced?",
        "How do I report a phishing email?",
    ],
    "fabrikam": [
        "What does error E1 mean?",
        "How long is the warranty?",
        "Does the camera support 5 GHz Wi-Fi?",
        "When do firmware updates run?",
        "What are the phone support hours?",
    ],
}
LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class Samples:
    ttft_s: list[float] = field(default_factory=list)
    retrieval_s: list[float] = field(default_factory=list)
    retrieval_wait_s: list[float] = field(default_factory=list)
    overhead_s: list[float] = field(default_factory=list)  # service TTFT - upstream TTFT, per request
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def process(args: list[str], env: dict[str, str]) -> Iterator[tuple[str, psutil.Process]]:
    """Runs a chatfleet command, yields its URL and process, stops it with SIGTERM afterwards."""
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO
    )
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{args[3]} exited with {proc.wait()}")
            match = LISTENING.search(line)
            if match:
                yield match.group(1), psutil.Process(proc.pid)
                return
        raise RuntimeError(f"{args[3]} did not start")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def answer_messages(question: str) -> list[dict[str, str]]:
    """The prompt the service sends for `question` (shipped template, five sample sources as with top=5)."""
    from chatfleet.chat.prompts.library import PromptLibrary

    corpus = sorted((REPO / "examples" / "corpus" / "contoso").glob("*.md"))[:5]
    sources = "\n".join(
        source_line(citation_id(p.name, 0), " ".join(p.read_text().split())[:600]) for p in corpus
    )
    rendered = PromptLibrary.load().get("answer").render_chat(question=question, sources=sources)
    return [{"role": "system", "content": rendered.system}, {"role": "user", "content": rendered.user}]


async def lines_as_they_arrive(response: httpx.Response) -> AsyncIterator[str]:
    """Complete lines the moment their newline arrives (httpx's aiter_lines holds a line back until the
    next chunk: one token interval more for JSON lines than for SSE, whose events end in a blank line)."""
    pending = b""
    async for chunk in response.aiter_raw():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode()
    if pending:
        yield pending.decode()


async def direct_once(
    client: httpx.AsyncClient, url: str, messages: list[dict[str, str]], out: Samples
) -> None:
    started = time.perf_counter()
    body = {"messages": messages, "stream": True, "max_tokens": 256, "temperature": 0.3}
    try:
        async with client.stream("POST", url, json=body, headers={"api-key": "bench"}) as response:
            if response.status_code != 200:
                out.fail(f"http {response.status_code}")
                await response.aread()
                return
            first = None
            async for line in lines_as_they_arrive(response):
                if first is None and line.startswith("data: {") and '"content":"' in line:
                    delta = json.loads(line[6:])["choices"]
                    if delta and delta[0].get("delta", {}).get("content"):
                        first = time.perf_counter() - started
            if first is None:
                out.fail("no content")
            else:
                out.ttft_s.append(first)
    except httpx.HTTPError as error:
        out.fail(type(error).__name__)


async def service_once(client: httpx.AsyncClient, url: str, tenant: str, question: str, out: Samples) -> None:
    started = time.perf_counter()
    body = {"messages": [{"role": "user", "content": question}]}
    try:
        async with client.stream("POST", url, json=body, headers={DEV_TENANT_HEADER: tenant}) as response:
            if response.status_code != 200:
                out.fail(f"http {response.status_code}")
                await response.aread()
                return
            timing = dict(re.findall(r"(\w+);dur=([\d.]+)", response.headers.get("server-timing", "")))
            first = None
            failed = False
            last = ""
            async for line in lines_as_they_arrive(response):
                if first is None and line.startswith('{"delta":{"content"'):
                    first = time.perf_counter() - started
                elif line.startswith('{"error"'):
                    failed = True
                if line:
                    last = line
            if failed or first is None:
                out.fail("error line" if failed else "no content")
                return
            upstream_ms = json.loads(last)["context"]["thoughts"][0]["props"]["ttft_ms"]
            out.ttft_s.append(first)
            out.retrieval_s.append(float(timing.get("retrieval", 0.0)) / 1000)
            out.retrieval_wait_s.append(float(timing.get("retrieval_wait", 0.0)) / 1000)
            out.overhead_s.append(first - upstream_ms / 1000)
    except httpx.HTTPError as error:
        out.fail(type(error).__name__)


async def run_level(
    concurrency: int, total: int, work: Callable[[int, Samples], Awaitable[None]], out: Samples
) -> Samples:
    """`total` requests, `concurrency` at a time; returns `out` with their samples."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait(), out)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


@dataclass
class Timed:
    """Samples of one service variant, the wall time its runs took (throughput) and the CPU time its process
    spent (CPU per stream: what bounds a worker's throughput, and far less noisy on a shared machine)."""

    proc: psutil.Process
    samples: Samples = field(default_factory=Samples)
    seconds: float = 0.0
    cpu_s: float = 0.0

    async def run(
        self, concurrency: int, total: int, work: Callable[[int, Samples], Awaitable[None]]
    ) -> None:
        started, cpu = time.perf_counter(), cpu_seconds(self.proc)
        await run_level(concurrency, total, work, self.samples)
        self.seconds += time.perf_counter() - started
        self.cpu_s += cpu_seconds(self.proc) - cpu

    def per_second(self) -> float:
        return (len(self.samples.ttft_s) / self.seconds) if self.seconds else float("nan")

    def cpu_ms_per_stream(self) -> float:
        return 1000 * self.cpu_s / len(self.samples.ttft_s) if self.samples.ttft_s else float("nan")


async def measure(
    sim_url: str,
    plain: tuple[str, psutil.Process],
    recording: tuple[str, psutil.Process],
    levels: list[int],
    per_level: int,
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """`plain`: the service without history (the main rows); `recording`: the same with SQLite history."""
    (service_url, service_proc), (history_url, history_proc) = plain, recording
    pairs = [(t, q) for t, qs in QUESTIONS.items() for q in qs]
    prompts = [answer_messages(q) for _, q in pairs]
    direct_url = (
        f"{sim_url}/openai/deployments/gpt-4o-mini/chat/completions?api-version={DEFAULT_API_VERSION}"
    )
    rows = []
    history_rows = []
    for concurrency in levels:
        total = max(per_level, concurrency * 2)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        timeout = httpx.Timeout(120.0)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

            def ask_service(i: int, out: Samples) -> Awaitable[None]:
                return service_once(client, f"{service_url}/chat/stream", *pairs[i % len(pairs)], out)

            def ask_history(i: int, out: Samples) -> Awaitable[None]:
                return service_once(client, f"{history_url}/chat/stream", *pairs[i % len(pairs)], out)

            def ask_direct(i: int, out: Samples) -> Awaitable[None]:
                return direct_once(client, direct_url, prompts[i % len(prompts)], out)

            # warm-up (connections, index caches, embedder) outside the measurement
            await run_level(min(concurrency, 8), 16, ask_service, Samples())
            await run_level(min(concurrency, 8), 16, ask_history, Samples())
            direct = await run_level(concurrency, total, ask_direct, Samples())
            off, on = Timed(service_proc), Timed(history_proc)
            for _ in range(2):  # alternating halves: drift of the shared machine hits both alike
                await off.run(concurrency, total // 2, ask_service)
                await on.run(concurrency, total // 2, ask_history)
            service = off.samples
        no_retrieval = [t - r for t, r in zip(service.ttft_s, service.retrieval_wait_s, strict=True)]
        overhead_no_retrieval = [
            o - r for o, r in zip(service.overhead_s, service.retrieval_wait_s, strict=True)
        ]
        row: dict[str, object] = {
            "concurrency": concurrency,
            "requests": total,
            "direct_errors": direct.errors,
            "service_errors": service.errors,
            "error_kinds": {**direct.error_kinds, **service.error_kinds},
        }
        for q in (0.5, 0.99):
            d = percentile(direct.ttft_s, q)
            row[f"direct_p{int(q * 100)}_ms"] = d * 1000
            row[f"service_p{int(q * 100)}_ms"] = percentile(service.ttft_s, q) * 1000
            row[f"added_p{int(q * 100)}_ms"] = (percentile(service.ttft_s, q) - d) * 1000
            row[f"added_noretr_p{int(q * 100)}_ms"] = (percentile(no_retrieval, q) - d) * 1000
            row[f"retrieval_p{int(q * 100)}_ms"] = percentile(service.retrieval_s, q) * 1000
            row[f"overhead_p{int(q * 100)}_ms"] = percentile(service.overhead_s, q) * 1000
            row[f"overhead_noretr_p{int(q * 100)}_ms"] = percentile(overhead_no_retrieval, q) * 1000
        rows.append(row)
        print_row(row)
        history_row: dict[str, object] = {"concurrency": concurrency, "requests": total}
        for q in (0.5, 0.99):
            name = f"p{int(q * 100)}"
            history_row[f"off_{name}_ms"] = percentile(off.samples.ttft_s, q) * 1000
            history_row[f"on_{name}_ms"] = percentile(on.samples.ttft_s, q) * 1000
            history_row[f"history_added_{name}_ms"] = (
                percentile(on.samples.ttft_s, q) - percentile(off.samples.ttft_s, q)
            ) * 1000
            # Per request, minus the upstream's own TTFT: the simulator's jitter cancels out.
            history_row[f"off_overhead_{name}_ms"] = percentile(off.samples.overhead_s, q) * 1000
            history_row[f"on_overhead_{name}_ms"] = percentile(on.samples.overhead_s, q) * 1000
        history_row |= {
            "off_streams_per_s": off.per_second(),
            "on_streams_per_s": on.per_second(),
            "off_cpu_ms_per_stream": off.cpu_ms_per_stream(),
            "on_cpu_ms_per_stream": on.cpu_ms_per_stream(),
            "off_errors": off.samples.errors,
            "on_errors": on.samples.errors,
        }
        history_rows.append(history_row)
    return rows, history_rows


HEADER = (
    f"{'conc':>5} {'reqs':>5} | {'direct p50':>10} {'p99':>7} | {'service p50':>11} {'p99':>7} | "
    f"{'added p50':>9} {'p99':>7} | {'no-retr p50':>11} {'p99':>7} | "
    f"{'overhead p50':>12} {'p99':>6} | {'no-retr p50':>11} {'p99':>6} | {'retr p50':>8} {'p99':>6} | errors"
)


def print_row(row: dict[str, object]) -> None:
    def f(key: str) -> str:
        return f"{row[key]:.1f}"  # type: ignore[str-format]

    print(
        f"{row['concurrency']:>5} {row['requests']:>5} | {f('direct_p50_ms'):>10} {f('direct_p99_ms'):>7} | "
        f"{f('service_p50_ms'):>11} {f('service_p99_ms'):>7} | "
        f"{f('added_p50_ms'):>9} {f('added_p99_ms'):>7} | "
        f"{f('added_noretr_p50_ms'):>11} {f('added_noretr_p99_ms'):>7} | "
        f"{f('overhead_p50_ms'):>12} {f('overhead_p99_ms'):>6} | "
        f"{f('overhead_noretr_p50_ms'):>11} {f('overhead_noretr_p99_ms'):>6} | {f('retrieval_p50_ms'):>8} "
        f"{f('retrieval_p99_ms'):>6} | {row['direct_errors']}/{row['service_errors']} "
        f"{row['error_kinds'] or ''}",
        flush=True,
    )


def print_history(rows: list[dict[str, object]]) -> None:
    print(
        f"\nconversation history (same run, alternating halves)\n{'conc':>5} {'reqs':>5} | "
        f"{'off p50':>8} {'on p50':>8} {'added':>7} | {'off p99':>8} {'on p99':>8} {'added':>7} | "
        f"{'overhead p50 off':>16} {'on':>6} | {'off streams/s':>13} {'on streams/s':>12} | "
        f"{'CPU ms/stream off':>17} {'on':>6} | errors off/on"
    )
    for r in rows:
        v = {k: f"{x:.2f}" if isinstance(x, float) else str(x) for k, x in r.items()}
        print(
            f"{v['concurrency']:>5} {v['requests']:>5} | {v['off_p50_ms']:>8} {v['on_p50_ms']:>8} "
            f"{v['history_added_p50_ms']:>7} | {v['off_p99_ms']:>8} {v['on_p99_ms']:>8} "
            f"{v['history_added_p99_ms']:>7} | {v['off_overhead_p50_ms']:>16} {v['on_overhead_p50_ms']:>6} | "
            f"{v['off_streams_per_s']:>13} {v['on_streams_per_s']:>12} | "
            f"{v['off_cpu_ms_per_stream']:>17} {v['on_cpu_ms_per_stream']:>6} | "
            f"{v['off_errors']}/{v['on_errors']}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--requests-per-level", type=int, default=400)
    parser.add_argument("--ttft-ms", type=float, default=100.0, help="simulator TTFT")
    parser.add_argument("--tokens-per-second", type=float, default=100.0, help="simulator pace")
    parser.add_argument("--chunk-interval-ms", type=float, default=50.0, help="simulator batching of tokens")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--postgres-url", help="keep history and budgets of the second service in this PostgreSQL database"
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATFLEET_")}
    env["PYTHONUNBUFFERED"] = "1"
    sim_args = [
        *CHATFLEET,
        "simulator",
        "--port",
        "0",
        "--ttft-ms",
        str(args.ttft_ms),
        "--tokens-per-second",
        str(args.tokens_per_second),
        "--min-chunk-interval-ms",
        str(args.chunk_interval_ms),
    ]
    with process(sim_args, env) as (sim_url, _):
        deployments = [{"name": "sim", "endpoint": sim_url, "deployment": "gpt-4o-mini", "apiKey": "bench"}]
        service_env = {
            **env,
            "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(deployments),
            "CHATFLEET_LOG_LEVEL": "WARNING",
            "CHATFLEET_TENANT_TOKENS_PER_MINUTE": "0",
        }
        serve = [*CHATFLEET, "serve", "--port", "0", "--dev"]
        with tempfile.TemporaryDirectory(prefix="chat-bench-history-") as history_dir:
            if args.postgres_url:
                store_env, store = postgres_env(args.postgres_url), "PostgreSQL history + budgets"
            else:
                store_env = {"CHATFLEET_HISTORY_PATH": str(Path(history_dir) / "history.sqlite")}
                store = "SQLite history"
            with (
                process(serve, {**service_env, "CHATFLEET_HISTORY_ENABLED": "false"}) as service,
                process(serve, {**service_env, **store_env}) as history,
            ):
                print(
                    f"simulator {sim_url} (TTFT {args.ttft_ms:g} ms, {args.tokens_per_second:g} tok/s); "
                    f"service {service[0]} (1 worker, no history), {history[0]} (1 worker, {store}); "
                    f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
                )
                print(HEADER)
                rows, history_rows = asyncio.run(
                    measure(sim_url, service, history, args.concurrency, args.requests_per_level)
                )
                print_history(history_rows)
    if args.json:
        args.json.write_text(json.dumps({"levels": rows, "history": history_rows}, indent=2))
    worst = max(rows, key=lambda r: float(r["overhead_noretr_p99_ms"]))  # type: ignore[arg-type]
    print(
        "\nadded = service percentile - direct percentile (different requests; upstream noise included);\n"
        "overhead = per request, service TTFT - the upstream TTFT the router measured for that request.\n"
        f"median per-request overhead p50 without retrieval: "
        f"{statistics.median(float(r['overhead_noretr_p50_ms']) for r in rows):.1f} ms; "  # type: ignore[arg-type]
        f"worst p99: {float(worst['overhead_noretr_p99_ms']):.1f} ms "  # type: ignore[arg-type]
        f"at concurrency {worst['concurrency']}"
    )


def postgres_env(url: str) -> dict[str, str]:
    """The second service's settings for a PostgreSQL URL: history and budgets there, password auth."""
    parts = conninfo_to_dict(url)
    env = {
        "CHATFLEET_HISTORY_STORE": "postgres",
        "CHATFLEET_BUDGET_STORE": "postgres",
        "CHATFLEET_TENANT_TOKENS_PER_MINUTE": "1000000000",  # never refuses: measures the round trips only
        "CHATFLEET_POSTGRES_HOST": str(parts.get("host", "127.0.0.1")),
        "CHATFLEET_POSTGRES_PORT": str(parts.get("port", 5432)),
        "CHATFLEET_POSTGRES_DATABASE": str(parts["dbname"]),
        "CHATFLEET_POSTGRES_USER": str(parts["user"]),
        "CHATFLEET_POSTGRES_AUTH": "password",
        "CHATFLEET_POSTGRES_SSLMODE": str(parts.get("sslmode", "disable")),
    }
    if "password" in parts:
        env["CHATFLEET_POSTGRES_PASSWORD"] = str(parts["password"])
    return env


if __name__ == "__main__":
    main()

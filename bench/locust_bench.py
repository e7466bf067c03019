"""How much load one Locust worker process drives: requests/s and streamed tokens/s.

Targets: the simulator directly (the OpenAI-compatible upstream locustfile) and the chat service in front
of it (the chat SLO locustfile, `steady` with no think time). Each target runs in its own process, so the
table also shows whose CPU saturated first: when Locust sits near 100 % of one core, the numbers are the
load generator's ceiling and an SRE needs more workers (distributed mode), not a faster target.

    .venv/bin/python bench/locust_bench.py                 # simulator and service, 10 s per row
    .venv/bin/python bench/locust_bench.py --seconds 20 --users 20,100,300 --targets simulator
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from chatfleet.loadtests.runner import locustfile_path

UPSTREAM_LOCUSTFILE = locustfile_path().with_name("upstream_locustfile.py")
LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class Row:
    target: str
    users: int
    requests_per_s: float
    tokens_per_s: float
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    failures: int
    locust_cpu: float
    target_cpu: float


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[str, psutil.Process]]:
    """Starts a `chatfleet` server on a free loopback port; yields its URL and process; stops it."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 120
        url = ""
        assert process.stdout is not None
        while not url and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}")
            if match := LISTENING.search(line):
                url = match.group(1)
        threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
        yield url, psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _cpu_percent(process: psutil.Process) -> float:
    """CPU % of a process and its children since the last call (100 = one core)."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.cpu_percent(None)
    return total


def run_locust(
    locustfile: Path, host: str, users: int, seconds: int, extra: list[str], target: psutil.Process
) -> tuple[dict[str, dict], float, float]:
    """One headless Locust process; returns its stats rows by method, its CPU % and the target's."""
    with tempfile.TemporaryDirectory() as scratch:
        prefix = str(Path(scratch) / "stats")
        command = [
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
            "--host", host, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
            "--json-file", prefix, "--loglevel", "WARNING", *extra,
        ]  # fmt: skip
        locust = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        generator = psutil.Process(locust.pid)
        _cpu_percent(generator), _cpu_percent(target)
        time.sleep(min(2.0, seconds / 2))  # skip start-up and ramp
        _cpu_percent(generator), _cpu_percent(target)
        time.sleep(max(1.0, seconds - 3.0))
        locust_cpu, target_cpu = _cpu_percent(generator), _cpu_percent(target)
        locust.wait(seconds + 60)
        rows = json.loads(Path(prefix + ".json").read_text())
    return {row["method"]: row for row in rows}, locust_cpu, target_cpu


def _percentile(row: dict | None, fraction: float) -> float | None:
    if not row or not row["num_requests"]:
        return None
    wanted, seen = row["num_requests"] * fraction, 0
    for value, count in sorted((float(k), v) for k, v in row["response_times"].items()):
        seen += count
        if seen >= wanted:
            return value
    return None


def measure(target: str, locustfile: Path, host: str, users: int, seconds: int, extra: list[str],
            process: psutil.Process) -> Row:  # fmt: skip
    rows, locust_cpu, target_cpu = run_locust(locustfile, host, users, seconds, extra, process)
    post, ttft = rows.get("POST"), rows.get("TTFT")
    duration = max(post["last_request_timestamp"] - post["start_time"], 1e-9) if post else 1.0
    return Row(
        target=target,
        users=users,
        requests_per_s=post["num_requests"] / duration if post else 0.0,
        tokens_per_s=(ttft["total_content_length"] / duration) if ttft else 0.0,
        ttft_p50_ms=_percentile(ttft, 0.5),
        ttft_p95_ms=_percentile(ttft, 0.95),
        failures=post["num_failures"] if post else 0,
        locust_cpu=locust_cpu,
        target_cpu=target_cpu,
    )


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_table(rows: list[Row]) -> None:
    header = (
        f"| {'target':<24} | {'users':>5} | {'req/s':>7} | {'tokens/s':>9} | {'TTFT p50':>8} "
        f"| {'TTFT p95':>8} | {'fails':>5} | {'Locust CPU %':>12} | {'target CPU %':>12} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for r in rows:
        print(
            f"| {r.target:<24} | {r.users:>5} | {r.requests_per_s:>7.1f} | {r.tokens_per_s:>9,.0f} "
            f"| {_figure(r.ttft_p50_ms):>8} | {_figure(r.ttft_p95_ms):>8} | {r.failures:>5} "
            f"| {r.locust_cpu:>12.0f} | {r.target_cpu:>12.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="Duration of each row.")
    parser.add_argument("--users", default="10,50,200", help="Comma-separated user counts.")
    parser.add_argument("--targets", default="simulator,service", help="simulator and/or service.")
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="Simulator TTFT.")
    parser.add_argument("--tokens-per-second", type=float, default=200.0, help="Simulator pace per stream.")
    args = parser.parse_args()
    users = [int(n) for n in args.users.split(",")]
    targets = args.targets.split(",")
    simulator = [
        sys.executable, "-m", "chatfleet", "simulator", "--port", "0", "--no-auth",
        "--ttft-ms", str(args.ttft_ms), "--tokens-per-second", str(args.tokens_per_second),
    ]  # fmt: skip
    rows: list[Row] = []
    with serving(simulator) as (sim_url, sim_process):
        if "simulator" in targets:
            for n in users:
                extra = ["--deployment", "gpt-4o"]
                row = measure(
                    "simulator (direct)", UPSTREAM_LOCUSTFILE, sim_url, n, args.seconds, extra, sim_process
                )
                rows.append(row)
        if "service" in targets:
            deployments = json.dumps(
                [{"name": "sim", "endpoint": sim_url, "deployment": "gpt-4o", "apiKey": "local-simulator"}]
            )
            service = [sys.executable, "-m", "chatfleet", "serve", "--port", "0", "--dev"]
            # no per-tenant token budget: the bench measures throughput, not the budget's 429s
            env = {"CHATFLEET_OPENAI_DEPLOYMENTS": deployments, "CHATFLEET_TENANT_TOKENS_PER_MINUTE": "0"}
            with serving(service, env) as (chat_url, chat_process):
                for n in users:
                    extra = ["--think-time-min", "0", "--think-time-max", "0", "--scenario", "steady"]
                    target = "chat service + simulator"
                    row = measure(target, locustfile_path(), chat_url, n, args.seconds, extra, chat_process)
                    rows.append(row)
    print(f"\none Locust process per row, {args.seconds} s each; simulator TTFT {args.ttft_ms:g} ms, "
          f"{args.tokens_per_second:g} tokens/s per stream; machine: {os.cpu_count()} cores\n")  # fmt: skip
    print_table(rows)


if __name__ == "__main__":
    main()

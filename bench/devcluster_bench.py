"""Local control plane costs: cold build of the Go tools and cluster start-up/stop time.

  startup: starts and stops LocalCluster N times (nodes=0 and nodes=1) and prints p50/max of start-up
           (spawn to usable: /readyz, default ServiceAccount, fake nodes Ready) and of stop.
  build:   builds every Go module from nothing: a fresh GOCACHE, fresh GOMODCACHE (module downloads
           included) and a fresh bin folder (CHATFLEET_TOOLS_BIN), one module after another, and prints
           wall time and CPU time per module. CPU seconds / cores is the wall time on an idle machine.
           --together instead runs one `chatfleet dev tools build` (all modules at once, as CI does).

Usage: .venv/bin/python bench/devcluster_bench.py startup [--runs 5]
       .venv/bin/python bench/devcluster_bench.py build [--together]   (15-25 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bench_startup(runs: int) -> None:
    from chatfleet.devcluster.cluster import LocalCluster

    header = ("nodes", "runs", "start p50 s", "start max s", "stop p50 s", "stop max s")
    print(" ".join(f"{column:>11}" for column in header))
    for nodes in (0, 1):
        starts, stops = [], []
        for _ in range(runs):
            cluster = LocalCluster(nodes=nodes).start()
            starts.append(cluster.startup_seconds)
            began = time.monotonic()
            cluster.stop()
            stops.append(time.monotonic() - began)
        row = (statistics.median(starts), max(starts), statistics.median(stops), max(stops))
        print(f"{nodes:>11} {runs:>11} " + " ".join(f"{value:>11.2f}" for value in row))


def bench_build(together: bool) -> None:
    """Each build in its own child process so its CPU time is measured alone (RUSAGE_CHILDREN deltas)."""
    from chatfleet.devcluster.tools import MODULES

    steps = [(m.directory, ", ".join(m.binaries), ["--only", m.binaries[0]]) for m in MODULES]
    if together:
        steps = [("all", "every tool, modules built concurrently", [])]
    scratch = Path(tempfile.mkdtemp(prefix="chatfleet-cold-build-"))
    env = {
        **os.environ,
        "GOCACHE": str(scratch / "gocache"),
        "GOMODCACHE": str(scratch / "gomodcache"),
        "CHATFLEET_TOOLS_BIN": str(scratch / "bin"),
    }
    print(f"cold build in {scratch} on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'module':<8} {'binaries':<58} {'wall s':>7} {'cpu s':>7}")
    total_wall = total_cpu = 0.0
    try:
        for name, binaries, only in steps:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "chatfleet", "dev", "tools", "build", *only],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            wall = time.monotonic() - began
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
            print(f"{name:<8} {binaries:<58} {wall:>7.0f} {cpu:>7.0f}", flush=True)
        print(f"{'total':<8} {'':<58} {total_wall:>7.0f} {total_cpu:>7.0f}")
    finally:
        subprocess.run(["go", "clean", "-modcache"], env=env, check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["startup", "build"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--together", action="store_true", help="build: all modules in one command")
    args = parser.parse_args()
    if args.what == "startup":
        bench_startup(args.runs)
    else:
        bench_build(args.together)


if __name__ == "__main__":
    main()

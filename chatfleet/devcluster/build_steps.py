"""What every step of a local image build shares: its error, its log, its time limit, one build at a time."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

STEP_TIMEOUT = 1800


class ImageBuildError(RuntimeError):
    """An image could not be built; the message says what is missing or where the log is."""


def echo(message: str) -> None:
    print(f"[chatfleet images] {message}", file=sys.stderr, flush=True)


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@contextmanager
def locked(state: Path, progress: Callable[[str], None] = echo) -> Iterator[None]:
    """One build at a time per state folder (two pytest sessions, a CLI call beside a test run)."""
    state.mkdir(parents=True, exist_ok=True)
    with (state / ".build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another image build to finish (lock {state / '.build.lock'})")
            started = time.monotonic()
            fcntl.flock(lock, fcntl.LOCK_EX)
            progress(f"waited {time.monotonic() - started:.0f} s for the other build")
        yield


def run_step(command: Sequence[str], log: Path, what: str, **kwargs: object) -> None:
    """Runs a build step with its output in log; a failure quotes the log's tail."""
    with log.open("w") as out:
        try:
            result = subprocess.run(
                list(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=STEP_TIMEOUT,
                **kwargs,  # type: ignore[call-overload]
            )
        except subprocess.TimeoutExpired:
            raise ImageBuildError(f"{what} ran over {STEP_TIMEOUT} s; log: {log}") from None
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}); log {log}:\n{tail}")


def require(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        raise ImageBuildError(f"`{binary}` is needed to build the local images: apt-get install {package}")
    return found

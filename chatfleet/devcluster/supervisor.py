"""`Supervisor`: the named processes of the dev cluster and of `chatfleet up`, started and stopped as one.

Each process runs in its own session (so its own process group, with whatever it spawns) and writes
stdout and stderr to `<logs>/<name>.log`. On Linux each also gets SIGKILL from the kernel if this Python
process dies (PR_SET_PDEATHSIG), so neither Ctrl-C, an exception nor a killed test run leaves a process
behind. The kernel ties that signal to the *thread* that started the process: spawn from a thread that
outlives the processes (the main thread, as pytest fixtures and the CLI do), not from a short-lived worker.

`check_alive` raises the owner's error naming the first component that exited and quoting its log tail;
`stop` ends components in tiers: SIGTERM to every group of a tier, a shared grace period, then SIGKILL to
the groups, so nothing a component spawned survives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import httpx

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None]:
    """A preexec_fn asking the kernel to SIGKILL the child when its parent dies (Linux only).

    The libc function is resolved here, in the parent, so the forked child runs no import machinery.
    """
    if not sys.platform.startswith("linux"):
        return lambda: None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return set_pdeathsig


@dataclass
class Component:
    """One running process, the command and environment it was started with, and its log file."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] | None = field(default=None, repr=False)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def exited(self) -> str | None:
        """None while running; otherwise what happened, with the end of the log."""
        code = self.process.poll()
        if code is None:
            return None
        return f"{self.name} exited with code {code}; last log lines ({self.log}):\n{self.log_tail()}"


def terminate(components: Collection[Component], grace: float) -> None:
    """SIGTERM to each component's process group, wait up to `grace` seconds, then SIGKILL the groups."""
    for component in components:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(component.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for component in components:
        try:
            component.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            component.process.kill()
            component.process.wait()
        # Anything the component itself spawned shares its group; make sure nothing survives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(component.process.pid, signal.SIGKILL)


class Supervisor:
    """Spawns named components, checks they are alive, and stops them in tiers.

    `error` builds the exception its checks raise (ClusterError, StackError), so callers keep their own
    error type. A component's first start truncates its log; a restart appends to it.
    """

    def __init__(
        self,
        logs: Path,
        cwd: Path,
        grace: float,
        error: Callable[[str], Exception] = RuntimeError,
    ) -> None:
        self.logs = logs
        self.cwd = cwd
        self.grace = grace
        self.error = error
        self.components: list[Component] = []
        self._started: set[str] = set()

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Component:
        """Starts `command` as component `name`; `env` is its whole environment (None: inherit ours)."""
        log = self.logs / f"{name}.log"
        with log.open("ab" if name in self._started else "wb") as out:
            process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        self._started.add(name)
        component = Component(name, command, process, log, env)
        self.components.append(component)
        return component

    def restart(self, component: Component) -> Component:
        """Starts an exited component again with the same command and environment."""
        self.components.remove(component)
        return self.spawn(component.name, component.command, component.env)

    def names(self) -> list[str]:
        return [component.name for component in self.components]

    def pids(self) -> list[int]:
        return [component.process.pid for component in self.components]

    def check_alive(self, tolerate: Collection[str] = ()) -> None:
        """Raises `error` naming the first component (not in `tolerate`) that has exited, with its log."""
        for component in self.components:
            if component.name not in tolerate:
                message = component.exited()
                if message is not None:
                    raise self.error(message)

    def log_tails(self, lines: int = 10) -> str:
        return "\n".join(f"--- {c.name} ({c.log}):\n{c.log_tail(lines)}" for c in self.components)

    def wait(
        self,
        what: str,
        condition: Callable[[], bool],
        timeout: float,
        tolerate: Collection[str] = (),
        interval: float = 0.1,
    ) -> None:
        """Polls `condition` until true; fails fast with the log of any component that died meanwhile
        (except those in `tolerate`, which the caller restarts), and on timeout quotes every log."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive(tolerate)
            with contextlib.suppress(httpx.HTTPError, OSError):
                if condition():
                    return
            if time.monotonic() > deadline:
                raise self.error(f"timed out after {timeout:.0f} s waiting for {what}\n{self.log_tails()}")
            time.sleep(interval)

    def stop(self, *tiers: Collection[str]) -> None:
        """Stops the named components tier after tier, in each tier's order, and forgets them; a tier
        gets SIGTERM to its groups, `grace` seconds, then SIGKILL. Components named in no tier keep
        running."""
        for tier in tiers:
            stopping = [c for name in dict.fromkeys(tier) for c in self.components if c.name == name]
            terminate(stopping, self.grace)
            self.components = [c for c in self.components if c not in stopping]

    def stop_all(self) -> None:
        """Stops every component in one tier."""
        self.stop(self.names())

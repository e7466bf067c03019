"""Why a candidate's canary pods cannot start, read from their container statuses.

A release whose pods crash at start-up (a setting the service refuses, an unreachable database, a missing
Secret, an image the node cannot pull) would otherwise hold the gate until gateTimeout and fail with a
reason that says nothing. The kubelet already knows: its waiting reasons and the last termination (exit
code, and the message the chat container leaves with `FallbackToLogsOnError`) name the cause.
"""

from __future__ import annotations

import re
from typing import Any

# Waiting reasons that no wait cures: the release itself is wrong.
STUCK = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
# A crash loop is the release's fault once the container has failed this many starts in a row (one failed
# start may be a dependency still coming up).
CRASHES = 2
MESSAGE_LIMIT = 300
# "psycopg.OperationalError: failed to resolve host ...", "ValueError: ...": a traceback's last line
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b: ")


def startup_failure(pods: list[dict[str, Any]]) -> str | None:
    """The first canary container (init containers first) that cannot start, as one line; None while
    every container is starting or running."""
    for pod in pods:
        if pod.get("metadata", {}).get("deletionTimestamp"):
            continue
        status = pod.get("status", {})
        for container in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]:
            why = _container_failure(container)
            if why:
                return f"pod {pod['metadata']['name']}, container {container['name']}: {why}"
    return None


def _container_failure(container: dict[str, Any]) -> str | None:
    waiting = container.get("state", {}).get("waiting") or {}
    reason = waiting.get("reason", "")
    if reason in STUCK:
        return f"{reason}: {_clip(waiting.get('message', ''))}".rstrip(": ")
    if reason == "CrashLoopBackOff" and container.get("restartCount", 0) >= CRASHES:
        last = container.get("lastState", {}).get("terminated") or {}
        exit_code = last.get("exitCode")
        message = _clip(last.get("message", "")) or last.get("reason", "")
        restarts = container["restartCount"]
        return f"exits at start-up (exit code {exit_code}, {restarts} restarts): {message}".rstrip(": ")
    return None


def _clip(text: str) -> str:
    """One line, bounded, for a condition message: the last exception a traceback names (the server's
    shutdown lines follow it), else the last lines."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if EXCEPTION_LINE.match(line)]
    flat = errors[-1] if errors else " | ".join(lines[-3:])
    return flat if len(flat) <= MESSAGE_LIMIT else "..." + flat[-MESSAGE_LIMIT:]

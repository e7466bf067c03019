"""Stopping the child processes a test started (a service, the operator): politely first, so their own
shutdown paths run, then by force, so a stuck child never outlives the test."""

import subprocess


def stop(process: subprocess.Popen, grace_s: float, kill_wait_s: float | None = None) -> None:
    """SIGTERM, up to `grace_s` seconds to exit, then SIGKILL and a wait of `kill_wait_s` (None: no limit)."""
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(kill_wait_s)

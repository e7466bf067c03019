"""Reading why a candidate's canary pods cannot start from the kubelet's container statuses."""

from __future__ import annotations

from typing import Any

from chatfleet.controller.rollout.canary import startup_failure


def pod(
    name: str, *containers: dict[str, Any], init: tuple[dict[str, Any], ...] = (), **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "status": {"initContainerStatuses": list(init), "containerStatuses": list(containers)},
    }


def crash_loop(name: str, restarts: int, message: str = "", exit_code: int = 2) -> dict[str, Any]:
    return {
        "name": name,
        "restartCount": restarts,
        "state": {
            "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"}
        },
        "lastState": {"terminated": {"exitCode": exit_code, "reason": "Error", "message": message}},
    }


RUNNING = {"name": "chat", "restartCount": 0, "state": {"running": {"startedAt": "2026-12-07T00:00:00Z"}}}
STARTING = {"name": "chat", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}


def test_starting_and_running_pods_are_no_failure() -> None:
    assert startup_failure([]) is None
    assert startup_failure([pod("a", STARTING), pod("b", RUNNING)]) is None


def test_one_crash_is_not_yet_a_failure_a_loop_is_and_quotes_the_last_lines() -> None:
    log = "starting\n  File x\nchatfleet: CHATFLEET_X is not a URL\n"
    assert startup_failure([pod("a", crash_loop("chat", 1, log))]) is None
    why = startup_failure([pod("a", crash_loop("chat", 2, log))])
    assert why is not None
    assert why.startswith("pod a, container chat: exits at start-up (exit code 2, 2 restarts)")
    assert why.endswith("starting | File x | chatfleet: CHATFLEET_X is not a URL")
    assert "\n" not in why


def test_the_exception_is_quoted_not_the_shutdown_lines_after_it() -> None:
    log = (
        "Traceback (most recent call last):\n"
        "psycopg.OperationalError: failed to resolve host 'db.invalid'\n\n"
        "ERROR:    Application startup failed. Exiting.\nINFO:     Shutting down\n"
    )
    why = startup_failure([pod("a", crash_loop("chat", 2, log, exit_code=3))])
    assert why == (
        "pod a, container chat: exits at start-up (exit code 3, 2 restarts): "
        "psycopg.OperationalError: failed to resolve host 'db.invalid'"
    )


def test_a_long_log_is_clipped_to_its_end() -> None:
    log = "x" * 2000 + " the reason"
    why = startup_failure([pod("a", crash_loop("chat", 3, log))])
    assert why is not None and why.endswith("the reason") and len(why) < 450


def test_without_a_message_the_termination_reason_is_named() -> None:
    why = startup_failure([pod("a", crash_loop("chat", 2, "", exit_code=137))])
    assert why == "pod a, container chat: exits at start-up (exit code 137, 2 restarts): Error"


def test_image_and_config_errors_fail_at_once_and_init_containers_come_first() -> None:
    missing = {
        "name": "chat",
        "restartCount": 0,
        "state": {"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "ai" not found'}},
    }
    assert (
        startup_failure([pod("a", missing)])
        == 'pod a, container chat: CreateContainerConfigError: secret "ai" not found'
    )
    pull = {"name": "ingest-sample", "restartCount": 0, "state": {"waiting": {"reason": "ErrImageNeverPull"}}}
    assert (
        startup_failure([pod("b", STARTING, init=(pull,))])
        == "pod b, container ingest-sample: ErrImageNeverPull"
    )


def test_terminating_pods_are_ignored() -> None:
    gone = pod("old", crash_loop("chat", 5, "boom"), deletionTimestamp="2026-12-07T00:00:00Z")
    assert startup_failure([gone, pod("new", RUNNING)]) is None

"""`chatfleet up`: the whole system on one machine, on embedded defaults, for newcomers and for tests.

By default everything runs in a cluster with a real node (chatfleet/stack_node.py, root needed). This
module holds the command, what both modes share (watching the sample app through its first revision and its
gated release, the `kubectl get chatapp` table) and the fast mode `--fake-nodes`: the control plane with KWOK
fake nodes (pods become Running without containers), the CRD, the Azure-OpenAI simulator and the chat service
with its UI as loopback processes, the operator with the gate's local runner, and the sample ChatApplication
of examples/local-stack.yaml, whose release is load-tested against the loopback chat service.

Every process it starts runs under a `Supervisor` (chatfleet/devcluster/supervisor.py), as the control
plane's do: in its own process group, killed by the kernel if this process dies, and stopped on exit, Ctrl-C
or SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import yaml

from chatfleet.contracts.resource import CRD_NAME, GROUP, PLURAL, VERSION
from chatfleet.devcluster.supervisor import Supervisor
from chatfleet.paths import CRDS_DIR, EXAMPLES_DIR, REPO_ROOT

SAMPLE = EXAMPLES_DIR / "local-stack.yaml"
STOP_GRACE_SECONDS = 15.0
STOP_ORDER = ("operator", "chat-service", "simulator")  # the operator stops before what it drives
RELEASE_TAG = "0.1.1"


class StackError(RuntimeError):
    """A step of the local stack failed; the message names the step and where its log is."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalStack:
    """Owns every process of the local stack; `stop()` ends them all, whatever state start-up reached."""

    def __init__(self, workdir: Path, port: int, progress: Callable[[str], None]) -> None:
        self.workdir = workdir.resolve()
        self.port = port
        self.progress = progress
        self.processes = Supervisor(self.workdir / "logs", REPO_ROOT, STOP_GRACE_SECONDS, StackError)
        self.cluster: Any = None
        self.simulator_url = ""
        self.prometheus_url = ""  # set by the real node's --monitoring
        self.chat_url = ""
        self.app_name = ""
        self.namespace = "default"
        self._seen: dict[str, tuple[str, str]] = {}

    # ----- processes ---------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        """`python -m chatfleet <args>` as component `name`, with `env` added to this environment."""
        self.processes.spawn(name, [sys.executable, "-m", "chatfleet", *args], {**os.environ, **(env or {})})

    def check_alive(self) -> None:
        """Raises StackError naming the first process that has exited, with the end of its log."""
        self.processes.check_alive()
        if self.cluster is not None:
            self.cluster.check_alive()

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError, OSError):
                if ready():
                    return
            time.sleep(0.3)
        raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")

    def pids(self) -> list[int]:
        """Every process id the stack started (tests prove none survives `stop`)."""
        return self.processes.pids() + (self.cluster.pids() if self.cluster is not None else [])

    # ----- start-up ----------------------------------------------------------------------------------

    def start(self) -> None:
        from chatfleet.devcluster.cluster import LocalCluster

        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.progress(
            "starting the control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK)"
        )
        self.cluster = LocalCluster(
            nodes=1,
            workdir=self.workdir / "cluster",
            kubeconfig=self.workdir / "kubeconfig",
            progress=self.progress,
        )
        self.cluster.start()
        self.progress(f"control plane ready in {self.cluster.startup_seconds:.1f} s at {self.cluster.server}")
        self._apply_crd()
        self._start_simulator()
        self._start_chat_service()
        self._start_operator()
        self._apply_sample()

    def _apply_crd(self) -> None:
        from kubernetes import client

        self.progress("installing the ChatApplication CRD")
        body = yaml.safe_load((CRDS_DIR / f"{CRD_NAME}.yaml").read_text())
        with self.cluster.api_client() as api:
            extensions = client.ApiextensionsV1Api(api)
            extensions.create_custom_resource_definition(body)

            def established() -> bool:
                crd = extensions.read_custom_resource_definition(body["metadata"]["name"])
                conditions = (crd.status and crd.status.conditions) or []
                return any(c.type == "Established" and c.status == "True" for c in conditions)

            self._wait("the CRD to be established", established, 30)

    def _start_simulator(self) -> None:
        port = _free_port()
        self.simulator_url = f"http://127.0.0.1:{port}"
        self.progress(f"starting the Azure OpenAI simulator on {self.simulator_url}")
        self._spawn("simulator", ["simulator", "--host", "127.0.0.1", "--port", str(port)])
        self._wait(
            "the simulator", lambda: httpx.get(f"{self.simulator_url}/_sim/state", timeout=2).is_success, 60
        )

    def _start_chat_service(self) -> None:
        self.chat_url = f"http://127.0.0.1:{self.port}"
        deployments = [
            {
                "name": "local-ptu",
                "endpoint": self.simulator_url,
                "deployment": "gpt-4o",
                "type": "ProvisionedManaged",
                "priority": 1,
                "api_key": "local-simulator",
            },
            {
                "name": "local-paygo",
                "endpoint": self.simulator_url,
                "deployment": "gpt-4o-mini",
                "type": "GlobalStandard",
                "priority": 2,
                "api_key": "local-simulator",
            },
        ]
        self.progress(f"starting the chat service and its UI on {self.chat_url} (local index, sample corpus)")
        self._spawn(
            "chat-service",
            ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--dev"],
            env={"CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(deployments)},
        )
        self._wait(
            "the chat service to be ready",
            lambda: httpx.get(f"{self.chat_url}/readyz", timeout=2).is_success,
            180,
        )

    def _start_operator(self) -> None:
        self.progress("starting the operator (gate runner: local load-test process)")
        self._spawn(
            "operator",
            ["operator", "run", "--namespace", self.namespace],
            env={
                "KUBECONFIG": str(self.cluster.kubeconfig),
                "CHATFLEET_OPERATOR_GATE_RUNNER": "local",
                "CHATFLEET_OPERATOR_LOCAL_GATE_HOST": self.chat_url,
                "CHATFLEET_OPERATOR_GATE_POLL_SECONDS": "1",
                # the gate's eval judges with the simulator (examples/local-stack.yaml), which takes any key
                "CHATFLEET_JUDGE_API_KEY": "local-simulator",
            },
        )

    def _apply_sample(self) -> None:
        from kubernetes import client

        body = yaml.safe_load(SAMPLE.read_text())
        self.app_name = body["metadata"]["name"]
        self.namespace = body["metadata"].get("namespace", self.namespace)
        body["metadata"].setdefault("annotations", {})["chatfleet.dev/loadtest-host"] = self.chat_url
        for deployment in body["spec"]["openai"]["deployments"]:
            deployment["endpoint"] = self.simulator_url
        self.progress(f"applying the sample ChatApplication {self.namespace}/{self.app_name} ({SAMPLE.name})")
        with self.cluster.api_client() as api:
            client.CustomObjectsApi(api).create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body
            )

    # ----- waiting for the result --------------------------------------------------------------------

    def chat_application(self) -> dict[str, Any]:
        from kubernetes import client

        with self.cluster.api_client() as api:
            found = client.CustomObjectsApi(api).get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.app_name
            )
        return cast(dict[str, Any], found)  # typed `object`: a custom object comes back as its JSON dict

    def _watch(self, what: str, done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Polls the app until `done(app)`, printing each condition change; a failed gate is an error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            app = self.chat_application()
            status = app.get("status") or {}
            conditions = {c["type"]: c for c in status.get("conditions", [])}
            for kind, condition in conditions.items():
                state = (condition["status"], condition.get("reason", ""))
                if self._seen.get(kind) != state:
                    self._seen[kind] = state
                    self.progress(
                        f"  {kind}={condition['status']} ({condition.get('reason', '')}): "
                        f"{condition.get('message', '')}"
                    )
            if done(app):
                return app
            if (status.get("rollout") or {}).get("phase") == "Failed":
                raise StackError(f"the gated rollout failed: {status['rollout'].get('message', '')}")
            time.sleep(1.0)
        raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Deploys the first revision, then ships a new release through the gate and waits for promotion.

        The first revision has no stable one to protect, so the operator deploys it directly; the
        release that follows (a new image tag, as a CI pipeline would apply) is load-tested by the
        gate against the loopback chat service and promoted only if every SLO holds and, with
        `spec.rollout.evaluation`, the eval set's answer-quality thresholds hold too.
        """
        from kubernetes import client

        deadline = time.monotonic() + timeout
        first = self._watch(
            "the first revision to become Ready",
            lambda app: _condition(app, "Ready") == "True",
            timeout,
        )
        first_revision = first["status"]["revision"]["current"]
        image = first["spec"]["image"]
        release = self.release_image(image)
        evaluated = bool((first["spec"].get("rollout") or {}).get("evaluation"))
        checks = "load-tests and evaluates" if evaluated else "load-tests"
        self.progress(f"shipping a release: image {image} -> {release} (the gate {checks} it first)")
        with self.cluster.api_client() as api:
            client.CustomObjectsApi(api).patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.app_name, {"spec": {"image": release}}
            )

        def promoted(app: dict[str, Any]) -> bool:
            # Promoted means rolled out: no gate running and no rollout in progress (Progressing=False).
            status = app.get("status") or {}
            current = (status.get("revision") or {}).get("current")
            return (
                current not in (None, first_revision)
                and _condition(app, "LoadTestPassed") == "True"
                and (not evaluated or _condition(app, "EvaluationPassed") == "True")
                and _condition(app, "Progressing") == "False"
                and _condition(app, "Ready") == "True"
            )

        return self._watch("the release to pass its gate", promoted, max(10.0, deadline - time.monotonic()))

    def release_image(self, image: str) -> str:
        """The image of the release: the same repository with the next tag (KWOK runs no image)."""
        return image.rsplit(":", 1)[0] + ":" + RELEASE_TAG

    def get_table(self) -> str:
        """`kubectl get chatapp` as the API server prints it (server-side Table with the printer columns)."""
        with self.cluster.api_client() as api:
            method, url, headers, _, _ = api.param_serialize(
                "GET",
                f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}",
                header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
            )
            raw = api.call_api(method, url, headers)
            raw.read()
            response = json.loads(raw.data)
        columns = [c["name"].upper() for c in response["columnDefinitions"] if c.get("priority", 0) == 0]
        indexes = [i for i, c in enumerate(response["columnDefinitions"]) if c.get("priority", 0) == 0]
        rows = [[str(row["cells"][i]) for i in indexes] for row in response["rows"]]
        widths = [max(len(x) for x in column) for column in zip(columns, *rows, strict=False)]
        return "\n".join(
            "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip()
            for line in [columns, *rows]
        )

    # ----- shutdown ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """SIGTERM to every process group (operator first, control plane last), SIGKILL after a grace;
        the gate's load-test runs live in the operator's group, so they end with it."""
        self.processes.stop(STOP_ORDER, self.processes.names())
        if self.cluster is not None:
            self.cluster.stop()


def _condition(app: dict[str, Any], kind: str) -> str | None:
    for condition in (app.get("status") or {}).get("conditions", []):
        if condition["type"] == kind:
            return str(condition["status"])
    return None

"""`chatfleet dev cluster` as people run it: kubeconfig appears once ready, a signal stops every component."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from kubernetes import client, config


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_serves_until_signalled_then_leaves_nothing_behind(tmp_path: Path, stop_signal: int) -> None:
    kubeconfig = tmp_path / "dev.kubeconfig"
    command = [
        sys.executable,
        "-m",
        "chatfleet",
        "dev",
        "cluster",
        "--kubeconfig",
        str(kubeconfig),
        "--nodes",
        "0",
    ]
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not kubeconfig.exists():
            assert cli.poll() is None, cli.stdout.read() if cli.stdout else ""
            assert time.monotonic() < deadline, "kubeconfig never written"
            time.sleep(0.2)

        api = config.new_client_from_config(config_file=str(kubeconfig))
        names = {ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items}
        assert {"default", "kube-system"} <= names
        components = psutil.Process(cli.pid).children(recursive=True)
        assert {p.name() for p in components} == {"etcd", "kube-apiserver", "kube-controller-manager"}

        cli.send_signal(stop_signal)
        output, _ = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, output
    assert "cluster ready" in output and "stopped" in output
    _gone, alive = psutil.wait_procs(components, timeout=5)
    assert alive == [], f"left behind: {alive}"
    assert not kubeconfig.exists()

"""The chat image built for real (BuildKit, offline, on the Debian base) and run once with runc.

Integration tier: needs root, mmdebstrap, gcc and the from-source BuildKit and runc (built on first use,
then cached, as are the base, the wheelhouse and the image itself: a warm run takes seconds). What the
unit tests can only infer from the Dockerfile is checked on the artefact: the config the kubelet will
read, the files in the image, and the exact ENTRYPOINT + CMD serving /healthz as UID 10001 on a
read-only root filesystem with only /tmp writable, then draining on SIGTERM.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dockerfile
import pytest

from chatfleet.devcluster import oci
from chatfleet.devcluster.images import LocalImage, build_images
from chatfleet.devcluster.tools import ensure_built
from chatfleet.paths import REPO_ROOT

pytestmark = [
    pytest.mark.integration,
    # A cold build (Debian base, wheelhouse, BuildKit) takes minutes on 2 busy cores; warm, seconds.
    pytest.mark.timeout(2400),
    pytest.mark.skipif(os.geteuid() != 0, reason="BuildKit's oci worker and runc need root"),
]


def dockerfile_final_stage(name: str) -> dict[str, tuple[str, ...]]:
    commands = list(dockerfile.parse_file(str(REPO_ROOT / "images" / f"Dockerfile.{name}")))
    last_from = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    return {c.cmd: c.value for c in commands[last_from:]}


@pytest.fixture(scope="module")
def chat_image() -> LocalImage:
    image = build_images(names=["chat"]).chat
    assert image is not None
    return image


@pytest.fixture(scope="module")
def chat_config(chat_image: LocalImage) -> dict[str, Any]:
    with oci.OCIArchive(chat_image.tar) as archive:
        _, config = archive.image(chat_image.ref)
    return config


@pytest.fixture(scope="module")
def chat_rootfs(chat_image: LocalImage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rootfs = tmp_path_factory.mktemp("chat") / "rootfs"
    oci.unpack_rootfs(chat_image.tar, rootfs, chat_image.ref)
    return rootfs


def test_archive_validates_and_carries_both_refs(chat_image: LocalImage) -> None:
    assert sorted(oci.validate(chat_image.tar)) == sorted(chat_image.refs)
    assert chat_image.ref.startswith("chatfleet.local/chatfleet/chat:")
    assert chat_image.dev_ref == "chatfleet.local/chatfleet/chat:dev"


def test_config_is_what_the_dockerfile_says(chat_config: dict[str, Any]) -> None:
    final = dockerfile_final_stage("chat")
    config = chat_config["config"]
    assert config["User"] == "10001:10001" == final["USER"][0]
    assert config["Entrypoint"] == ["chatfleet"] == list(final["ENTRYPOINT"])
    assert config["Cmd"] == ["serve", "--host", "0.0.0.0", "--port", "8000"] == list(final["CMD"])
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].startswith("/opt/chatfleet/bin:/usr/local/sbin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["HOME"] == "/tmp" and env["USER"] == "chatfleet"
    assert env["HF_HOME"] == "/tmp/huggingface"
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["Labels"]["org.opencontainers.image.title"] == "chatfleet-chat"
    assert (chat_config["os"], chat_config["architecture"]) == ("linux", oci.go_arch())


def test_file_tree(chat_rootfs: Path) -> None:
    cli = chat_rootfs / "opt" / "chatfleet" / "bin" / "chatfleet"
    assert cli.is_file() and cli.stat().st_mode & 0o111
    assert cli.read_text().splitlines()[0] in ("#!/opt/chatfleet/bin/python", "#!/opt/chatfleet/bin/python3")
    assert (chat_rootfs / "opt/chatfleet/bin/python3").is_symlink()
    assert (chat_rootfs / "usr/bin/python3").exists(), "the venv's python resolves to the base's Python"
    assert not (chat_rootfs / "opt/chatfleet/bin/pip").exists(), "no installer in the app's venv"
    assert not (chat_rootfs / "src").exists(), "no sources in the final image"
    assert not (chat_rootfs / "usr/bin/gcc").exists(), "no compilers in the final image"
    assert not (chat_rootfs / "wheels").exists(), "the wheels mount leaves nothing behind"
    site = next((chat_rootfs / "opt/chatfleet/lib").glob("python3.*/site-packages"))
    assert (site / "chatfleet" / "cli.py").is_file()
    assert list((site / "chatfleet" / "__pycache__").glob("cli.*.pyc")), "byte-compiled at build time"


def _runc_bundle(
    bundle: Path, rootfs: Path, config: dict[str, Any], runc: Path, args: list[str], env: tuple[str, ...] = ()
) -> None:
    """runc's default spec, with the image's user, env (+ env) and workdir, a read-only root and a /tmp
    tmpfs (the emptyDir the operator mounts)."""
    bundle.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(runc), "spec", "--bundle", str(bundle)], check=True, timeout=30)
    spec = json.loads((bundle / "config.json").read_text())
    uid, gid = (int(part) for part in config["config"]["User"].split(":"))
    spec["process"].update(
        terminal=False,
        args=args,
        env=[*config["config"]["Env"], *env],
        cwd=config["config"].get("WorkingDir") or "/",
        user={"uid": uid, "gid": gid},
    )
    spec["root"] = {"path": str(rootfs), "readonly": True}
    spec["hostname"] = "chat-image-test"
    spec["mounts"].append(
        {
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777"],
        }
    )
    (bundle / "config.json").write_text(json.dumps(spec))


@pytest.fixture
def runc() -> Iterator[tuple[Path, Path]]:
    binary = ensure_built(["runc"])["runc"]
    state = Path(f"/run/chatfleet-image-test-{uuid.uuid4().hex[:8]}")
    yield binary, state
    subprocess.run(["rm", "-rf", str(state)], check=False)


def test_entry_point_runs_help_as_10001(
    chat_rootfs: Path, chat_config: dict[str, Any], runc: tuple[Path, Path], tmp_path: Path
) -> None:
    binary, state = runc
    _runc_bundle(
        tmp_path / "bundle", chat_rootfs, chat_config, binary, ["/opt/chatfleet/bin/chatfleet", "--help"]
    )
    result = subprocess.run(
        [
            str(binary),
            "--root",
            str(state),
            "run",
            "--bundle",
            str(tmp_path / "bundle"),
            f"help-{uuid.uuid4().hex[:8]}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "serve" in result.stdout


def test_image_command_serves_healthz_and_drains_on_sigterm(
    chat_rootfs: Path, chat_config: dict[str, Any], runc: tuple[Path, Path], tmp_path: Path
) -> None:
    """ENTRYPOINT + CMD exactly as the kubelet runs them, in the container's own network namespace.

    Dev mode without auth (the sample corpus and the built-in simulator, all offline): on 0.0.0.0 the
    service refuses to start without auth settings, which a pod gets from the operator's ConfigMap.
    """
    binary, state = runc
    command = [*chat_config["config"]["Entrypoint"], *chat_config["config"]["Cmd"]]
    dev = ("CHATFLEET_DEV_MODE=true", "CHATFLEET_AUTH_MODE=none")
    _runc_bundle(tmp_path / "bundle", chat_rootfs, chat_config, binary, command, dev)
    container = f"serve-{uuid.uuid4().hex[:8]}"
    runc_cmd = [str(binary), "--root", str(state)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        subprocess.run(
            [*runc_cmd, "run", "--detach", "--bundle", str(tmp_path / "bundle"), container],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            check=True,
            timeout=60,
        )
    try:
        probe = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/healthz', timeout=2).read().decode())"  # noqa: E501
        deadline, answer = time.monotonic() + 180, None
        while time.monotonic() < deadline:
            answer = subprocess.run(
                [*runc_cmd, "exec", container, "python", "-c", probe],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if answer.returncode == 0:
                break
            time.sleep(1)
        assert answer is not None and answer.returncode == 0, log.read_text(errors="replace")[-3000:]
        assert json.loads(answer.stdout) == {"status": "ok"}
        subprocess.run([*runc_cmd, "kill", container, "TERM"], check=True, timeout=30)
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline:
            status = json.loads(
                subprocess.run(
                    [*runc_cmd, "state", container], capture_output=True, text=True, timeout=30
                ).stdout
            )["status"]
            if status == "stopped":
                break
            time.sleep(0.5)
        assert status == "stopped", "PID 1 exits on SIGTERM (exec-form entry point, graceful drain)"
        assert "Application shutdown complete" in log.read_text(errors="replace")
    finally:
        subprocess.run([*runc_cmd, "delete", "--force", container], capture_output=True, timeout=60)


def test_build_steps_have_no_network(tmp_path: Path) -> None:
    """The daemon build_images starts gives each RUN a network namespace with only loopback."""
    from chatfleet.devcluster.buildkit import BuildKitDaemon, OCILayoutInput
    from chatfleet.devcluster.images import STATE_DIR, build_base

    base = build_base(STATE_DIR, print)
    tools = ensure_built(["buildkitd", "buildctl", "runc", "loopback"])
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base.ref}\n"
        'RUN python3 -c "import socket; print(sorted(n for _, n in socket.if_nameindex()))" > /interfaces\n'
        "RUN python3 -c \"import socket; socket.create_connection(('151.101.2.132', 80), timeout=5)\" "
        "> /reached 2>&1 || echo blocked > /reached\n"
    )
    layout = OCILayoutInput("base", base.layout, base.manifest_digest)
    daemon = BuildKitDaemon(
        tools["buildkitd"],
        tools["buildctl"],
        tools["runc"],
        tmp_path / "buildkit",
        print,
        tools["loopback"].parent,
    )
    with daemon:
        daemon.build(
            context=context,
            dockerfile=context / "Dockerfile",
            output=tmp_path / "probe.oci.tar",
            names=["chatfleet.local/test/probe:1"],
            build_args={},
            named_contexts={base.ref: layout.context()},
            local_dirs={},
            layouts=[layout],
            log=tmp_path / "build.log",
        )
    rootfs = tmp_path / "rootfs"
    oci.unpack_rootfs(tmp_path / "probe.oci.tar", rootfs)
    assert (rootfs / "interfaces").read_text().strip() == "['lo']"
    assert (rootfs / "reached").read_text().strip() == "blocked"

"""The three Dockerfiles, checked without a container engine.

Parsed with BuildKit's own parser (the `dockerfile` package): pinned multi-stage builds, a numeric non-root
user, no compilers or package managers in the final stage, read-only-filesystem friendly settings, health
checks on the ports and paths the chart and the operator probe, entry points that really run, and the
offline variant the local node builds with BuildKit (wheels context, no apt, no index, no `# syntax=`).
The install step itself is replayed in test_image_install.py; a real BuildKit build is in
tests/integration/images.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest
import yaml

from chatfleet.paths import HELM_DIR, REPO_ROOT

IMAGES = REPO_ROOT / "images"
NAMES = ("chat", "operator", "loadtest")
DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
CHATFLEET = Path(sys.executable).with_name("chatfleet")


def instructions(name: str) -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(IMAGES / f"Dockerfile.{name}")))


def stages(name: str) -> list[list[dockerfile.Command]]:
    """Instructions grouped by FROM; stages[-1] is the image that ships."""
    result: list[list[dockerfile.Command]] = []
    for command in instructions(name):
        if command.cmd == "FROM":
            result.append([])
        if result:
            result[-1].append(command)
    return result


def stage(name: str, stage_name: str) -> list[dockerfile.Command]:
    """The instructions of the stage `FROM ... AS <stage_name>`."""
    (found,) = [s for s in stages(name) if s[0].value[-2:] == ("AS", stage_name)]
    return found


def final(name: str, cmd: str) -> list[dockerfile.Command]:
    return [c for c in stages(name)[-1] if c.cmd == cmd]


def base_image(name: str) -> str:
    (arg,) = [c for c in instructions(name) if c.cmd == "ARG" and c.value[0].startswith("PYTHON_IMAGE=")]
    return arg.value[0].split("=", 1)[1]


def exec_command(name: str) -> list[str]:
    """ENTRYPOINT + CMD as the container runtime joins them (both must be exec form)."""
    (entrypoint,) = final(name, "ENTRYPOINT")
    (cmd,) = final(name, "CMD")
    assert entrypoint.json and cmd.json, "exec form keeps PID 1 the app, so SIGTERM reaches it"
    return [*entrypoint.value, *cmd.value]


def healthcheck_url(name: str) -> str:
    (check,) = final(name, "HEALTHCHECK")
    (url,) = re.findall(r"http://127\.0\.0\.1:\d+/\w+", " ".join(check.value))
    return url


@pytest.mark.parametrize("name", NAMES)
def test_base_is_pinned_by_digest_and_shared(name: str) -> None:
    assert DIGEST.match(base_image(name)), base_image(name)
    assert base_image(name) == base_image("chat"), "one base digest for all images, updated together"
    froms = [c.value for c in instructions(name) if c.cmd == "FROM"]
    assert froms[0] == ("scratch", "AS", "wheels"), "the optional wheels context, empty by default"
    assert len(froms) >= 3, "multi-stage: build tools stay in the build stage"
    assert all(f[0] == "${PYTHON_IMAGE}" for f in froms[1:])


@pytest.mark.parametrize("name", NAMES)
def test_final_stage_runs_as_numeric_non_root_user(name: str) -> None:
    (user,) = final(name, "USER")
    uid, _, gid = user.value[0].partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    chart_uid = yaml.safe_load((HELM_DIR / "chatfleet" / "values.yaml").read_text())["operator"][
        "podSecurityContext"
    ]["runAsUser"]
    assert int(uid) == chart_uid, "the chart's runAsUser matches the image's user"


@pytest.mark.parametrize("name", NAMES)
def test_final_stage_has_no_build_tools_and_suits_a_read_only_root(name: str) -> None:
    assert final(name, "RUN") == [], "no apt-get/pip in the shipped stage"
    assert all(c.flags == ("--from=build",) for c in final(name, "COPY")), "only build artefacts copied"
    env = dict(zip(*[iter(v for c in final(name, "ENV") for v in c.value)] * 2, strict=True))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "no .pyc writes on a read-only root filesystem"
    assert env["HOME"] == "/tmp", "the only writable path (an emptyDir) is /tmp"
    assert env["PATH"].startswith("/opt/chatfleet/bin:")
    build_runs = " ".join(c.value[0] for c in stage(name, "build") if c.cmd == "RUN")
    assert "compileall" in build_runs, "bytecode is compiled at build time instead"
    assert "pip uninstall -y pip setuptools wheel" in build_runs


@pytest.mark.parametrize("name", NAMES)
def test_copied_sources_exist_and_pass_the_dockerignore(name: str) -> None:
    ignore = (IMAGES / f"Dockerfile.{name}.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "an allow-list context: .venv, tools/bin and .git never reach the builder"
    for copy in stage(name, "build"):
        if copy.cmd != "COPY":
            continue
        for source in copy.value[:-1]:
            assert (REPO_ROOT / source).exists(), f"COPY {source}: missing in the repository"
            assert source in allowed, f"COPY {source}: excluded by the .dockerignore"


@pytest.mark.parametrize("name", NAMES)
def test_entry_point_runs_with_the_installed_cli(name: str) -> None:
    """The exact ENTRYPOINT+CMD parses: `--help` exits 0 only if every command and option exists."""
    command = exec_command(name)
    assert command[0] == "chatfleet"
    args = command[1:] if command[-1] == "--help" else [*command[1:], "--help"]
    result = subprocess.run([str(CHATFLEET), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_chat_image_serves_on_the_port_the_operator_probes() -> None:
    (expose,) = final("chat", "EXPOSE")
    assert expose.value == ("8000", "9464"), "the API port, then the metrics port"
    command = exec_command("chat")
    assert command[command.index("--port") + 1] == "8000"
    assert command[command.index("--host") + 1] == "0.0.0.0", "reachable from the kubelet and Service"
    assert healthcheck_url("chat") == "http://127.0.0.1:8000/healthz"


def test_operator_image_health_matches_the_chart_probes() -> None:
    values = yaml.safe_load((HELM_DIR / "chatfleet" / "values.yaml").read_text())["operator"]
    (expose,) = final("operator", "EXPOSE")
    assert expose.value == (str(values["healthPort"]),)
    assert healthcheck_url("operator") == f"http://127.0.0.1:{values['healthPort']}/healthz"
    command = exec_command("operator")
    assert command[1:3] == ["operator", "run"]
    assert f"--liveness=http://0.0.0.0:{values['healthPort']}/healthz" in command


def test_loadtest_image_is_a_job_without_a_healthcheck() -> None:
    (check,) = final("loadtest", "HEALTHCHECK")
    assert check.value == ("NONE",)
    assert exec_command("loadtest")[:2] == ["chatfleet", "loadtest"]


@pytest.mark.parametrize("name", NAMES)
def test_no_syntax_directive(name: str) -> None:
    """A `# syntax=` line makes BuildKit pull that frontend image; the offline build has no registry, and
    BuildKit's built-in frontend (Docker 23+) has every feature these files use."""
    first = (IMAGES / f"Dockerfile.{name}").read_text().splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first, re.IGNORECASE), first


@pytest.mark.parametrize("name", NAMES)
def test_offline_build_switches_default_to_the_registry_build(name: str) -> None:
    """The build args the local offline build sets exist, and their defaults give today's registry build."""
    from chatfleet.devcluster.images import OFFLINE_BUILD_ARGS

    args = dict(c.value[0].split("=", 1) for c in stage(name, "build") if c.cmd == "ARG")
    assert set(OFFLINE_BUILD_ARGS) <= set(args), "every offline switch is an ARG of the build stage"
    assert args["BUILD_PACKAGES"] == "build-essential", "compilers by default"
    assert args["PIP_NO_INDEX"] == "0", "PyPI by default"
    (apt,) = [c for c in stage(name, "build") if c.cmd == "RUN" and "apt-get" in c.value[0]]
    assert apt.value[0].startswith('if [ -n "$BUILD_PACKAGES" ]; then'), "an empty list skips apt entirely"
    assert "$BUILD_PACKAGES" in apt.value[0].split("install", 1)[1]
    assert [c for c in stages(name)[0] if c.cmd != "FROM"] == [], "the default wheels context is empty"
    (install,) = [c for c in stage(name, "build") if c.cmd == "RUN" and "pip install" in c.value[0]]
    assert install.flags == ("--mount=type=bind,from=wheels,target=/wheels",)
    assert "/opt/chatfleet/bin/pip install --find-links /wheels ." in install.value[0]


def test_build_stages_share_their_cache() -> None:
    """The build stage is identical in the three files up to the install, so BuildKit builds it once; the
    operator's CRD copy comes after it."""

    def steps(name: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        return [(c.cmd, c.flags, c.value) for c in stage(name, "build")]

    assert steps("loadtest") == steps("chat")
    assert steps("operator") == [*steps("chat"), ("COPY", (), ("crds", "./crds"))]
    assert steps("chat")[-1][0] == "RUN" and "pip install" in steps("chat")[-1][2][0]

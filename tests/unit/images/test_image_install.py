"""Replays the images' build stage without a container engine: the same COPY context, a regular
(non-editable) `pip install .`, then each image's ENTRYPOINT + CMD run from that install.

An editable development install hides files a wheel leaves out (UI assets, prompt templates); this test
is where such a gap shows up before an image is ever built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest

from chatfleet.paths import REPO_ROOT

IMAGES = REPO_ROOT / "images"
PACKAGE_DIRS = {
    "chatfleet": "chatfleet",
    "controller": "chatfleet/controller",
    "services/chat": "chatfleet/chat",
    "loadtests": "chatfleet/loadtests",
}


def build_stage_copies(name: str) -> list[str]:
    """Sources of the COPY instructions of the Dockerfile's first (build) stage."""
    sources: list[str] = []
    for command in dockerfile.parse_file(str(IMAGES / f"Dockerfile.{name}")):
        if command.cmd == "FROM" and sources:
            break
        if command.cmd == "COPY" and not command.flags:
            sources += command.value[:-1]
    return sources


@pytest.fixture(scope="module")
def image_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-packages as the operator image's build stage produces it (the widest COPY set)."""
    context = tmp_path_factory.mktemp("context")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for source in build_stage_copies("operator"):
        path = REPO_ROOT / source
        if path.is_dir():
            shutil.copytree(path, context / source, ignore=ignore)
        else:
            shutil.copy2(path, context / source)
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            "--no-compile",
            "--target",
            str(site),
            ".",
        ],
        cwd=context,
        env=env,
        check=True,
        timeout=240,
    )
    return site


def test_every_file_of_the_packages_is_installed(image_install: Path) -> None:
    missing = []
    for source, target in PACKAGE_DIRS.items():
        for file in (REPO_ROOT / source).rglob("*"):
            if not file.is_file() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            relative = file.relative_to(REPO_ROOT / source)
            nested_part = source == "chatfleet" and relative.parts[0] in ("chat", "controller", "loadtests")
            if not nested_part and not (image_install / target / relative).is_file():
                missing.append(f"{source}/{relative}")
    assert missing == [], "files the image would not contain (add their suffix to setup.py package_data)"


@pytest.mark.parametrize("name", ["chat", "operator", "loadtest"])
def test_entry_point_runs_from_the_regular_install(image_install: Path, name: str, tmp_path: Path) -> None:
    commands = {c.cmd: c.value for c in dockerfile.parse_file(str(IMAGES / f"Dockerfile.{name}"))}
    argv = [*commands["ENTRYPOINT"][1:], *commands["CMD"]]
    if argv[-1] != "--help":
        argv.append("--help")
    code = (
        "import sys, chatfleet; assert chatfleet.__file__.startswith(sys.argv[1]), chatfleet.__file__; "
        "from chatfleet.cli import app; app(sys.argv[2:], prog_name='chatfleet')"
    )
    env = {**os.environ, "PYTHONPATH": str(image_install), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(image_install), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout

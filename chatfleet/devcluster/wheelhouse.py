"""The wheelhouse: the images' dependencies as wheels, built by the host's pip (its cache, its TLS trust),
pinned to the versions the dev venv runs, so an image runs what the tests ran against."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from chatfleet.devcluster.build_steps import ImageBuildError, cache_key, run_step
from chatfleet.paths import REPO_ROOT


def _requirements() -> list[str]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return [*pyproject["build-system"]["requires"], *pyproject["project"]["dependencies"]]


# Run by the venv's interpreter: the installed closure of the given requirements (extras and markers
# honoured), as name==version pins. Packages only the dev tools need stay out of it.
_PINS_SCRIPT = """
import json, sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
pins, seen = {}, set()
stack = [(Requirement(r), {""}) for r in json.loads(sys.argv[1])]
while stack:
    req, parent_extras = stack.pop()
    if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in parent_extras):
        continue
    key = (canonicalize_name(req.name), frozenset(req.extras))
    if key in seen:
        continue
    seen.add(key)
    try:
        dist = metadata.distribution(req.name)
    except metadata.PackageNotFoundError:
        continue
    pins[key[0]] = dist.version
    stack += [(Requirement(r), set(req.extras) | {""}) for r in dist.requires or []]
print("\\n".join(f"{name}=={version}" for name, version in sorted(pins.items())))
"""


def runtime_pins(python: Path, requirements: Sequence[str]) -> list[str]:
    """`name==version` of every installed distribution the requirements pull in, read from the venv."""
    result = subprocess.run(
        [str(python), "-c", _PINS_SCRIPT, json.dumps(list(requirements))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise ImageBuildError(f"could not read the installed versions from {python}: {result.stderr.strip()}")
    return result.stdout.split()


def build_wheelhouse(
    state: Path, progress: Callable[[str], None], python: Path | None = None
) -> tuple[Path, str]:
    """Wheels of every dependency and of the build backend, at the versions of the dev venv.

    The versions are pinned to what the venv has installed for the project's requirements (their installed
    closure, not the venv's dev tools): the image then runs what the tests ran against, the host's warm pip
    cache serves it, and installing a dev tool does not invalidate the wheelhouse. Returns (folder, key).
    """
    python = python or Path(sys.executable)
    version = subprocess.run(
        [str(python), "-c", "import sys, sysconfig; print(sys.version_info[:2], sysconfig.get_platform())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    requirements = _requirements()
    pins = runtime_pins(python, requirements)
    key = cache_key("wheels-v2", version, *requirements, *pins)[:16]
    folder = state / "wheels" / key
    # Bookkeeping lives beside the folder: the folder is a build context, and only the wheels belong in it.
    complete = folder.with_name(f"{key}.complete")
    if complete.exists() and folder.is_dir():
        return folder, key
    started = time.monotonic()
    progress(
        f"building the wheelhouse ({len(requirements)} requirements, host pip, "
        f"versions of {python.parent.parent})"
    )
    scratch = Path(tempfile.mkdtemp(dir=state, prefix=".wheels-"))
    constraints = folder.with_name(f"{key}.constraints.txt")
    folder.parent.mkdir(parents=True, exist_ok=True)
    constraints.write_text("\n".join(pins) + "\n")
    try:
        run_step(
            [
                str(python),
                "-m",
                "pip",
                "wheel",
                "--disable-pip-version-check",
                "-q",
                "-w",
                str(scratch),
                "-c",
                str(constraints),
                *requirements,
            ],
            state / "wheelhouse.log",
            "pip wheel (the wheelhouse)",
        )
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(scratch, folder)
        complete.write_text(key + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for other in folder.parent.iterdir():  # older wheelhouses: a few hundred MB each
        if other.name.startswith(key):
            continue
        if other.is_dir():
            shutil.rmtree(other)
        else:
            other.unlink()
    count = len(list(folder.glob("*.whl")))
    progress(f"built the wheelhouse ({count} wheels) in {time.monotonic() - started:.0f} s")
    return folder, key

"""Runs mypy (settings in pyproject.toml, `[tool.mypy]`) on the package the way Python imports it.

mypy names a module after its folder, and chatfleet's parts live in other folders than chatfleet/
(setup.py's PACKAGE_DIRS), so it checks a tree of symlinks in the import layout (scripts/package_layout.py).
The tree sits at a fixed place under .mypy_cache/ so mypy's incremental cache stays valid between runs;
reported paths are mapped back to the repository's files. Extra arguments go to mypy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from package_layout import REPO, link_tree

CACHE = REPO / ".mypy_cache"
TREE = CACHE / "layout"
LOCATION = re.compile(r"^(?P<path>[^\s:]+\.pyi?)(?P<rest>:.*)$")


def repo_path(line: str) -> str:
    """`chatfleet/chat/app.py:3: error` -> `services/chat/app.py:3: error` (the file the link points at)."""
    match = LOCATION.match(line)
    if not match or not (TREE / match["path"]).exists():
        return line
    real = (TREE / match["path"]).resolve()
    return f"{real.relative_to(REPO) if real.is_relative_to(REPO) else real}{match['rest']}"


def main(argv: list[str]) -> int:
    shutil.rmtree(TREE, ignore_errors=True)  # links only: rmtree does not follow them
    TREE.mkdir(parents=True)
    link_tree(TREE)
    command = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
               "--cache-dir", str(CACHE), "-p", "chatfleet", *argv]
    # mypy searches its working directory first: the tree, not the repository's chatfleet/ folder (the root
    # package only). It ignores the editable install's import hook.
    process = subprocess.Popen(command, cwd=TREE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        print(repo_path(line.rstrip("\n")), flush=True)
    return process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Runs `lint-imports` (the import contracts in pyproject.toml) on the package the way Python imports it.

import-linter builds its graph with grimp, which finds a package's modules by walking the folder of the
top-level package. chatfleet's parts live in other folders (setup.py's PACKAGE_DIRS: `services/chat` is
`chatfleet.chat`), so the check runs on a throw-away tree of symlinks in the import layout
(scripts/package_layout.py). Extra arguments go to lint-imports, e.g. `--contract chat-layers` or
`--show-timings`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from package_layout import REPO, link_tree


def main(argv: list[str]) -> int:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    with tempfile.TemporaryDirectory(prefix="chatfleet-imports-") as tmp:
        link_tree(Path(tmp))
        # lint-imports puts its working directory first on sys.path: the tree, not the repository's
        # `chatfleet/` folder (which holds only the root package) nor the editable install's finder.
        command = [str(lint_imports), "--no-cache", *argv, str(REPO / "pyproject.toml")]
        return subprocess.run(command, cwd=tmp, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

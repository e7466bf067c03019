"""Runs `lint-imports` (the import contracts in pyproject.toml) on the package the way Python imports it.

import-linter builds its graph with grimp, which finds a package's modules by walking the folder of the
top-level package. chatfleet's parts live in other folders (setup.py's PACKAGE_DIRS: `services/chat` is
`chatfleet.chat`), so the check runs on a throw-away tree of symlinks in the import layout. Extra arguments
go to lint-imports, e.g. `--contract chat-layers` or `--show-timings`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def package_dirs() -> dict[str, str]:
    """PACKAGE_DIRS as setup.py declares it (read, not imported: importing setup.py runs setup())."""
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        names = [getattr(target, "id", None) for target in getattr(node, "targets", ())]
        if isinstance(node, ast.Assign) and "PACKAGE_DIRS" in names:
            return dict(ast.literal_eval(node.value))
    raise SystemExit("setup.py declares no PACKAGE_DIRS")


def link_tree(root: Path) -> None:
    """Each package's folder becomes a real directory of links to that folder's entries, parents first."""
    for package, folder in sorted(package_dirs().items()):
        target = root.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for entry in (REPO / folder).iterdir():
            if entry.name != "__pycache__":
                (target / entry.name).symlink_to(entry)


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

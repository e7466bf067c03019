"""The package as Python imports it, laid out as a tree of symlinks, for tools that walk folders.

setup.py maps chatfleet's parts from other folders (PACKAGE_DIRS: `services/chat` is `chatfleet.chat`).
Tools that find modules by walking the top-level package's folder (import-linter's grimp, mypy) see only
the root package in `chatfleet/`, so scripts/lint_imports.py and scripts/typecheck.py run them on a tree of
links in the import layout.
"""

from __future__ import annotations

import ast
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

"""Where the repository's non-Python assets live, so every part finds them the same way."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CRDS_DIR = REPO_ROOT / "crds"
EXAMPLES_DIR = REPO_ROOT / "examples"
HELM_DIR = REPO_ROOT / "helm"
TOOLS_DIR = REPO_ROOT / "tools"

"""Where the repository's non-Python assets live, so every part finds them the same way."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CRDS_DIR = REPO_ROOT / "crds"
EXAMPLES_DIR = REPO_ROOT / "examples"
HELM_DIR = REPO_ROOT / "helm"
TOOLS_DIR = REPO_ROOT / "tools"
# The sample corpus: in the repository (a checkout, an editable install), else shipped as package data
# (setup.py's chatfleet.sample_corpus), as in the chat image.
SAMPLE_CORPUS_DIR = next(
    (d for d in (EXAMPLES_DIR / "corpus", Path(__file__).resolve().parent / "sample_corpus") if d.is_dir()),
    EXAMPLES_DIR / "corpus",
)


def checkout_missing(command: str) -> str | None:
    """Why `command` cannot run here, or None: the local stack and the tool builds read the repository's
    tools/, crds/, examples/ and images/, which an installed wheel does not carry."""
    if all(d.is_dir() for d in (TOOLS_DIR, CRDS_DIR, EXAMPLES_DIR)):
        return None
    return (
        f"`{command}` needs a chatfleet source checkout (tools/, crds/, examples/, images/), and this "
        f"chatfleet is installed at {REPO_ROOT / 'chatfleet'} without one: run it from a clone of the "
        "repository"
    )

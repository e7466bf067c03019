"""The example GitHub Actions workflow passes actionlint (built from the Go module proxy, tools/actionlint).

actionlint checks what GitHub would only reject at run time: the workflow schema, `needs` between jobs,
expression syntax and types (`vars.`, `github.`), known actions' inputs and runner labels. A deliberately
broken copy must fail, so a passing run means the check looked. shellcheck and pyflakes (optional external
programs actionlint would call) are switched off, so the verdict does not depend on what the machine has.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chatfleet.paths import EXAMPLES_DIR

WORKFLOW = EXAMPLES_DIR / "pipelines" / "github-actions.yml"


@pytest.fixture(scope="session")
def actionlint() -> Path:
    from chatfleet.devcluster.tools import ensure_built

    return ensure_built(["actionlint"])["actionlint"]


def _lint(actionlint: Path, workflow: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(actionlint), "-no-color", "-shellcheck=", "-pyflakes=", str(workflow)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_example_workflow_passes_actionlint(actionlint: Path) -> None:
    result = _lint(actionlint, WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("needs: staging", "needs: stagign"), 'needs job "stagign" which does not exist'),
        (("${{ vars.STAGING_URL }}", "${{ var.STAGING_URL }}"), 'undefined variable "var"'),
        (("python-version:", "python-versoin:"), 'input "python-versoin" is not defined'),
    ],
)
def test_actionlint_rejects_a_broken_copy(
    actionlint: Path, tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    text = WORKFLOW.read_text()
    assert old in text
    broken = tmp_path / "github-actions.yml"
    broken.write_text(text.replace(old, new, 1))
    result = _lint(actionlint, broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout

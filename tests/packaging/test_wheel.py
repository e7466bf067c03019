"""The built wheel, installed without a checkout: it carries what its commands read at run time.

Offline and quick: the wheel is built with the dev venv's setuptools (`--no-build-isolation`, no index) and
installed with `--no-deps` into a fresh virtualenv; the dependencies come from the dev venv's site-packages,
added *after* the fresh venv's own through a .pth line. Site-packages added that way are not scanned for
.pth files, so the dev venv's editable chatfleet stays invisible and every `chatfleet` import below is the
wheel's (asserted, not assumed).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


# What a source distribution of the package holds (setup.py's PACKAGE_DIRS and the project files).
SOURCES = (
    "setup.py",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "chatfleet",
    "controller",
    "services",
    "loadtests",
    "examples",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources: an in-tree build would leave build/ in the checkout, and the
    copy proves the wheel needs nothing else of it."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    # setuptools reports packaging mistakes (data folders it would drop, license metadata) as warnings
    assert "Warning" not in build.stdout + build.stderr, build.stdout + build.stderr
    (built,) = out.glob("chatfleet-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fresh venv's bin folder, the wheel installed into it."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(own, "zz_chatfleet_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root / "bin"


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "chatfleet"), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_wheel_carries_license_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "chatfleet-0.1.0.dist-info/licenses/LICENSE" in names
    for data in (
        "chatfleet/chat/ui/index.html",
        "chatfleet/prompts/answer.v1.yaml",
        "chatfleet/prompts/judge/judge_groundedness.v1.yaml",  # the eval judge's rubric, in the gate's image
        "chatfleet/loadtests/data/conversations.jsonl",
        "chatfleet/chat/guards/data/labelled_prompts.jsonl",
        "chatfleet/sample_corpus/contoso/vpn-setup.md",
        "chatfleet/sample_corpus/fabrikam/smart-plug.md",
    ):
        assert data in names, data


def test_installed_cli_smoke(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import chatfleet.chat, chatfleet.paths as p; "
            "print(chatfleet.chat.__file__); print(p.SAMPLE_CORPUS_DIR)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert all(str(installed.parent) in line for line in where), where  # the wheel's, not the checkout's

    assert "serve" in run(installed, "--help", cwd=tmp_path).stdout
    assert "--port" in run(installed, "serve", "--help", cwd=tmp_path).stdout
    crd = run(installed, "crd", "generate", cwd=tmp_path)
    assert crd.returncode == 0 and "kind: CustomResourceDefinition" in crd.stdout
    rendered = run(installed, "render", "-f", str(REPO / "examples" / "minimal.yaml"), cwd=tmp_path)
    assert rendered.returncode == 0 and "kind: Deployment" in rendered.stdout
    locustfile = run(installed, "loadtest", "locustfile-path", cwd=tmp_path)
    assert locustfile.stdout.strip().startswith(str(installed.parent))
    sample = run(installed, "ingest-sample", "--index", str(tmp_path / "sample.db"), cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr


@pytest.mark.parametrize("args", [["up"], ["dev", "cluster"], ["crd", "generate", "--write"]])
def test_checkout_only_commands_say_what_they_lack(installed: Path, tmp_path: Path, args: list[str]) -> None:
    result = run(installed, *args, cwd=tmp_path)
    assert result.returncode == 2
    assert "needs a chatfleet source checkout" in result.stderr
    assert "Traceback" not in result.stderr

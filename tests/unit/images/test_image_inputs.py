"""Image tags are the hash of what reaches the builder, and nothing else.

A tag that ignored a context file would keep serving a stale image; one that hashed an ignored file (.venv,
__pycache__) would rebuild for nothing. The dockerignore matcher is checked against BuildKit's rules
(moby/patternmatcher) and against the project's real allow-lists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatfleet.devcluster.imageinputs import DockerIgnore, context_files, image_inputs_hash
from chatfleet.devcluster.images import debian_mirror_lines
from chatfleet.paths import REPO_ROOT

IMAGES = REPO_ROOT / "images"


@pytest.mark.parametrize("name", ["chat", "operator", "loadtest"])
@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("pyproject.toml", False),
        ("README.md", False),
        ("chatfleet/cli.py", False),
        ("services/chat/ui/index.html", False),
        ("crds/chatapplication.yaml", False),
        ("chatfleet/__pycache__/cli.cpython-311.pyc", True),
        ("chatfleet/chat/x.pyc", True),
        (".venv/bin/python", True),
        ("tools/bin/kube-apiserver", True),
        (".git/HEAD", True),
        ("docs/images.md", True),
        ("images/Dockerfile.chat", True),
    ],
)
def test_project_dockerignores(name: str, path: str, excluded: bool) -> None:
    ignore = DockerIgnore.from_file(IMAGES / f"Dockerfile.{name}.dockerignore")
    assert ignore.excluded(path) is excluded


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.md"], "a.md", True),
        (["*.md"], "docs/a.md", False),  # `*` stops at `/`
        (["**/*.md"], "docs/deep/a.md", True),
        (["**/*.md"], "a.md", True),  # `**/` also matches no directory
        (["docs"], "docs/deep/a.md", True),  # a matching parent excludes everything below
        (["docs/**"], "docs/deep/a.md", True),
        (["/docs/"], "docs/a.md", True),  # cleaned like filepath.Clean, leading / dropped
        (["doc?"], "docs", True),
        (["doc?"], "doc/s", False),  # `?` is not a `/`
        (["*", "!keep"], "keep/x", False),
        (["*", "!keep", "keep/drop"], "keep/drop/x", True),  # the last matching line wins
        (["# comment", "", "  spaced.txt  "], "spaced.txt", True),
        (["a.b"], "axb", False),  # regex characters are literal
    ],
)
def test_patternmatcher_rules(patterns: list[str], path: str, excluded: bool) -> None:
    assert DockerIgnore(patterns).excluded(path) is excluded


def make_tree(root: Path) -> None:
    for relative, content in {
        "pyproject.toml": "x",
        "pkg/mod.py": "print(1)",
        "pkg/__pycache__/mod.cpython-311.pyc": "bytecode",
        "pkg/sub/data.json": "{}",
        ".venv/lib/site.py": "venv",
        "notes.md": "notes",
        "images/Dockerfile.app": "FROM scratch\n",
        "images/Dockerfile.app.dockerignore": "*\n!pyproject.toml\n!pkg/\n**/__pycache__\n",
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def test_context_files_are_what_the_allow_list_lets_through(tmp_path: Path) -> None:
    make_tree(tmp_path)
    ignore = DockerIgnore.from_file(tmp_path / "images" / "Dockerfile.app.dockerignore")
    assert list(context_files(tmp_path, ignore)) == ["pyproject.toml", "pkg/mod.py", "pkg/sub/data.json"]
    assert not ignore.may_include_below(".venv"), "an excluded folder nothing re-includes is not walked"
    assert ignore.may_include_below("pkg")


def test_hash_follows_the_context_the_dockerfile_and_the_extras(tmp_path: Path) -> None:
    make_tree(tmp_path)
    dockerfile = tmp_path / "images" / "Dockerfile.app"

    def tag(**extra: str) -> str:
        return image_inputs_hash(tmp_path, dockerfile, {"base": "sha256:1", **extra})

    first = tag()
    assert tag() == first, "an unchanged tree gives the same tag"
    (tmp_path / ".venv" / "lib" / "site.py").write_text("changed")
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_text("changed")
    (tmp_path / "notes.md").write_text("changed")
    assert tag() == first, "files the builder never sees do not change the tag"

    changes = []
    (tmp_path / "pkg" / "sub" / "data.json").write_text('{"a": 1}')
    changes.append(tag())
    (tmp_path / "pkg" / "new.py").write_text("")
    changes.append(tag())
    (tmp_path / "pkg" / "new.py").chmod(0o755)
    changes.append(tag())
    dockerfile.write_text("FROM scratch\nUSER 1\n")
    changes.append(tag())
    (tmp_path / "images" / "Dockerfile.app.dockerignore").write_text("*\n!pyproject.toml\n!pkg/\n")
    changes.append(tag())  # the pycache file is now part of the context
    changes.append(tag(base="sha256:2"))
    assert len({first, *changes}) == len(changes) + 1, "every change that reaches the builder is a new tag"


def test_project_images_hash_the_same_context_and_differ_by_dockerfile() -> None:
    extra = {"base": "sha256:0"}
    tags = {
        name: image_inputs_hash(REPO_ROOT, IMAGES / f"Dockerfile.{name}", extra)
        for name in ("chat", "operator")
    }
    assert tags["chat"] != tags["operator"]
    files = list(context_files(REPO_ROOT, DockerIgnore.from_file(IMAGES / "Dockerfile.chat.dockerignore")))
    assert "pyproject.toml" in files and "chatfleet/cli.py" in files
    assert not any(f.startswith((".venv/", ".git/", "tools/")) or "__pycache__" in f for f in files)


def test_debian_mirror_lines_follow_apts_sources(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n"
        "# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main contrib\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
    )
    assert debian_mirror_lines(sources) == [
        "deb http://mirror.example/debian bookworm main",
        "deb http://mirror.example/debian bookworm-updates main",
        "deb http://mirror.example/debian-security bookworm-security main contrib",
    ]
    assert len(debian_mirror_lines(tmp_path / "absent")) == 3, "Debian's public mirror without a sources file"

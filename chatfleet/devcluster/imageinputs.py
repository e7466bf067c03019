"""What goes into an image build, hashed: the tag of a local image is a function of its inputs.

The hash covers exactly what BuildKit sees: the context files that pass the Dockerfile's own
`<Dockerfile>.dockerignore` (matched with BuildKit's rules, moby/patternmatcher), the Dockerfile, and what
the caller adds (base digest, wheelhouse, build args). An unchanged tree gives the same tag, so nothing
is rebuilt; any change that would reach the builder gives a new tag.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

HASH_SCHEMA = "chatfleet-image-inputs-v1"


@dataclass(frozen=True)
class _Pattern:
    exclusion: bool  # a `!` line: re-includes what earlier lines excluded
    regex: re.Pattern[str]
    literal_prefix: tuple[str, ...]  # leading path segments without wildcards


def _compile(pattern: str) -> re.Pattern[str]:
    """The regex patternmatcher builds: `*` and `?` stop at `/`, `**` spans directories."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif ch in "[]":
            out += ch
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + "$")


class DockerIgnore:
    """BuildKit's .dockerignore semantics: the last matching line wins, and a line that matches a parent
    directory matches everything below it (moby/patternmatcher MatchesOrParentMatches)."""

    def __init__(self, lines: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in lines:
            if raw.startswith("#"):
                continue
            line = raw.strip()
            if not line:
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            line = os.path.normpath(line).replace(os.sep, "/")
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
            segments = line.split("/")
            prefix = tuple(
                s
                for s in segments[
                    : next((n for n, s in enumerate(segments) if re.search(r"[*?\[\\]", s)), len(segments))
                ]
            )
            self.patterns.append(_Pattern(exclusion, _compile(line), prefix))

    @classmethod
    def from_file(cls, path: Path) -> DockerIgnore:
        return cls(path.read_text().lstrip("\ufeff").splitlines() if path.exists() else [])

    def excluded(self, relative: str) -> bool:
        parents = relative.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = bool(pattern.regex.match(relative)) or any(
                pattern.regex.match("/".join(parents[: n + 1])) for n in range(len(parents))
            )
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_include_below(self, directory: str) -> bool:
        """False when no `!` line can re-include anything under an excluded directory (walk skips it)."""
        parts = tuple(directory.split("/"))
        for pattern in self.patterns:
            if not pattern.exclusion:
                continue
            prefix = pattern.literal_prefix
            common = min(len(prefix), len(parts))
            if prefix[:common] == parts[:common]:
                return True
        return False


def context_files(root: Path, ignore: DockerIgnore) -> Iterator[str]:
    """Relative paths (sorted, `/`-separated) of the files and symlinks BuildKit would send from root."""
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()
        base = "" if base == "." else base + "/"
        kept = []
        for name in sorted(dirnames):
            path = base + name
            if os.path.islink(os.path.join(directory, name)):
                filenames.append(name)
            elif not ignore.excluded(path) or ignore.may_include_below(path):
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not ignore.excluded(base + name):
                yield base + name


def hash_tree(root: Path, ignore: DockerIgnore, digest: hashlib._Hash) -> int:
    """Feeds each context file's path, executable bit and content (or link target) into digest."""
    count = 0
    for relative in sorted(context_files(root, ignore)):
        path = root / relative
        info = path.lstat()
        digest.update(relative.encode() + b"\0")
        if stat.S_ISLNK(info.st_mode):
            digest.update(b"link\0" + os.readlink(path).encode() + b"\0")
        else:
            digest.update(b"x\0" if info.st_mode & 0o111 else b"-\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        count += 1
    return count


def image_inputs_hash(root: Path, dockerfile: Path, extra: Mapping[str, str]) -> str:
    """sha256 over the context (as filtered by `<dockerfile>.dockerignore`), the Dockerfile and `extra`
    (base image digest, wheelhouse key, build args, builder version)."""
    digest = hashlib.sha256(HASH_SCHEMA.encode() + b"\0")
    ignore_file = dockerfile.with_name(dockerfile.name + ".dockerignore")
    for path in (dockerfile, ignore_file):
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes() if path.exists() else b"").digest())
    hash_tree(root, DockerIgnore.from_file(ignore_file), digest)
    for key in sorted(extra):
        digest.update(f"{key}={extra[key]}\0".encode())
    return digest.hexdigest()

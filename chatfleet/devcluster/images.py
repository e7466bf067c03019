"""Real container images for the local node, built on this machine without any container registry.

- base: a Debian 12 root filesystem with Python 3.11 from Debian's packages (mmdebstrap), written as an
  OCI layout by chatfleet.devcluster.oci. It stands in for python:3.11-slim, which no registry serves here.
- wheelhouse: the dependencies as wheels, made by the host's pip (its cache and its TLS trust). Build
  steps get it as a named context and install with `--no-index`: no network inside the build, and no
  machine CA baked into an image.
- chat, operator, loadtest: the project's own images/Dockerfile.* built by BuildKit (daemon started and
  stopped here), the base given as an OCI-layout named context.
- pause: the CRI's sandbox image, k8s.io/kubernetes' build/pause/linux/pause.c compiled static.

Every artefact is cached under STATE_DIR keyed on its inputs; an image's tag is the hash of its inputs
(context files that pass the dockerignore, Dockerfile, base digest, wheelhouse, build args), so an
unchanged tree rebuilds nothing and a changed one gets a new tag. Each image also carries `:dev`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chatfleet.devcluster import oci
from chatfleet.devcluster.build_steps import ImageBuildError, cache_key, echo, locked, require, run_step
from chatfleet.devcluster.buildkit import BuildKitDaemon, BuildKitError, OCILayoutInput
from chatfleet.devcluster.imageinputs import image_inputs_hash
from chatfleet.devcluster.wheelhouse import build_wheelhouse
from chatfleet.paths import REPO_ROOT

# In the user's cache, so every clone on a machine (a CI run's fresh clone too) shares one BuildKit cache and
# base; CHATFLEET_IMAGES_DIR moves it (e.g. a fresh folder to measure a cold build).
STATE_DIR = Path(
    os.environ.get("CHATFLEET_IMAGES_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chatfleet" / "images"
).resolve()
IMAGES_DIR = REPO_ROOT / "images"
REGISTRY = "chatfleet.local"
IMAGE_NAMES: tuple[str, ...] = ("chat", "operator", "loadtest")
DEV_TAG = "dev"
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES: tuple[str, ...] = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
BASE_REF = f"{REGISTRY}/debian/python:3.11-{DEBIAN_SUITE}"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# mmdebstrap's output is byte-for-byte reproducible with SOURCE_DATE_EPOCH (checked: two runs, one sha256):
# the same package versions give the same base digest, hence the same image tags. Bookworm's release day.
BASE_SOURCE_DATE_EPOCH = "1686355200"
# Build args of the offline build: no compilers (every dependency comes as a wheel) and no package index.
OFFLINE_BUILD_ARGS: dict[str, str] = {"BUILD_PACKAGES": "", "PIP_NO_INDEX": "1"}
PAUSE_CFLAGS: tuple[str, ...] = ("-Os", "-Wall", "-Werror", "-static")


@dataclass(frozen=True)
class LocalImage:
    """One built image: its content-derived ref, a stable `:dev` ref, and the OCI tar to import."""

    name: str
    ref: str
    tar: Path
    dev_ref: str | None = None
    cached: bool = False

    @property
    def refs(self) -> tuple[str, ...]:
        return (self.ref, self.dev_ref) if self.dev_ref else (self.ref,)


@dataclass(frozen=True)
class LocalImages:
    """What `build_images` returns: the three app images and the sandbox image."""

    chat: LocalImage | None
    operator: LocalImage | None
    loadtest: LocalImage | None
    pause: LocalImage
    base_ref: str

    def __iter__(self) -> Iterator[LocalImage]:
        for image in (self.chat, self.operator, self.loadtest, self.pause):
            if image is not None:
                yield image


@dataclass(frozen=True)
class BaseImage:
    ref: str
    layout: Path
    manifest_digest: str


# ---- base: Debian + Python 3.11 from Debian's packages ----


def debian_mirror_lines(sources: Path = DEBIAN_SOURCES, suite: str = DEBIAN_SUITE) -> list[str]:
    """The `deb URI suite components` lines apt uses on this machine (main, updates, security), so the
    base comes from the same mirror; Debian's public mirror when the machine has no deb822 sources."""
    lines: list[str] = []
    if sources.exists():
        for stanza in sources.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            for uri in fields.get("uris", "").split():
                for each in fields.get("suites", "").split():
                    if each.startswith(suite):
                        lines.append(f"deb {uri} {each} {fields.get('components', 'main')}")
    return lines or [
        f"deb http://deb.debian.org/debian {suite} main",
        f"deb http://deb.debian.org/debian {suite}-updates main",
        f"deb http://deb.debian.org/debian-security {suite}-security main",
    ]


def build_base(state: Path, progress: Callable[[str], None]) -> BaseImage:
    """The stand-in for python:3.11-slim: mmdebstrap's minbase rootfs as a one-layer OCI layout."""
    mirrors = debian_mirror_lines()
    key = cache_key("base-v2", DEBIAN_SUITE, *BASE_PACKAGES, *mirrors, BASE_SOURCE_DATE_EPOCH)[:16]
    folder = state / "base" / key
    done = folder / "image.json"
    if done.exists():
        recorded = json.loads(done.read_text())
        return BaseImage(recorded["ref"], folder / "layout", recorded["manifest_digest"])
    mmdebstrap = require("mmdebstrap", "mmdebstrap")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.monotonic()
    progress(
        f"building the base root filesystem: Debian {DEBIAN_SUITE} + {', '.join(BASE_PACKAGES)} (mmdebstrap)"
    )
    rootfs = folder / "rootfs.tar"
    run_step(
        [
            mmdebstrap,
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            # Device nodes do not belong in a layer: the runtime creates /dev.
            "--skip=output/dev",
            DEBIAN_SUITE,
            str(rootfs),
            *mirrors,
        ],
        folder / "mmdebstrap.log",
        "mmdebstrap",
        env={**os.environ, "SOURCE_DATE_EPOCH": BASE_SOURCE_DATE_EPOCH},
    )
    layout = oci.Layout(folder / "layout").create()
    with rootfs.open("rb") as tar:
        layer = layout.add_layer(tar)
    config = oci.ImageConfig(
        env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"),
        cmd=("python3",),
    )
    manifest = layout.add_image([layer], config, [BASE_REF])
    rootfs.unlink()
    done.write_text(json.dumps({"ref": BASE_REF, "manifest_digest": manifest.digest}))
    for other in folder.parent.iterdir():  # an older base (other mirrors or packages): 80 MB each
        if other != folder:
            shutil.rmtree(other, ignore_errors=True)
    progress(f"built the base {BASE_REF}@{manifest.digest[:19]} in {time.monotonic() - started:.0f} s")
    return BaseImage(BASE_REF, folder / "layout", manifest.digest)


# ---- pause: the sandbox image ----


def pause_source(version: str | None = None) -> tuple[Path, str]:
    """pause.c from k8s.io/kubernetes in the Go module cache, and the pause TAG of its Makefile."""
    from chatfleet.devcluster.tools import KUBE_VERSION, go_binary

    version = version or KUBE_VERSION
    modcache = subprocess.run(
        [go_binary(), "env", "GOMODCACHE"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    pause_dir = Path(modcache) / f"k8s.io/kubernetes@{version}" / "build" / "pause"
    source = pause_dir / "linux" / "pause.c"
    if not source.is_file():
        raise ImageBuildError(
            f"{source} is missing: it comes with the k8s.io/kubernetes {version} module; run "
            "`chatfleet dev tools build --only kubelet` "
            "(or `go mod download k8s.io/kubernetes` in tools/kube)"
        )
    tag = "3.10"
    makefile = pause_dir / "Makefile"
    if makefile.is_file():
        for line in makefile.read_text().splitlines():
            if line.replace(" ", "").startswith("TAG?="):
                tag = line.split("=", 1)[1].strip()
    return source, tag


def build_pause(state: Path, progress: Callable[[str], None]) -> LocalImage:
    """`gcc -Os -static pause.c` wrapped as a one-layer image (entrypoint /pause, user 65535 as upstream)."""
    source, tag = pause_source()
    gcc = require("gcc", "build-essential (gcc and libc6-dev, for a static binary)")
    gcc_version = subprocess.run([gcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    ref = f"{REGISTRY}/pause:{tag}"
    key = cache_key("pause-v1", source.read_text(), gcc_version, *PAUSE_CFLAGS, ref)[:16]
    tar = state / "pause" / f"pause-{key}.oci.tar"
    if tar.exists():
        return LocalImage("pause", ref, tar, cached=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(dir=state, prefix=".pause-"))
    try:
        binary = work / "pause"
        run_step(
            [gcc, *PAUSE_CFLAGS, f"-DVERSION=v{tag}-chatfleet", "-o", str(binary), str(source)],
            state / "pause.build.log",
            "gcc (pause.c)",
        )
        layout = oci.Layout(work / "layout").create()
        layer = layout.add_layer(oci.single_file_layer({"pause": (binary.read_bytes(), 0o755)}))
        layout.add_image([layer], oci.ImageConfig(entrypoint=("/pause",), user="65535:65535"), [ref])
        layout.archive(tar)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"built {ref} ({tar.stat().st_size // 1024} KiB) in {time.monotonic() - started:.1f} s")
    return LocalImage("pause", ref, tar)


# ---- the app images ----


def image_ref(name: str, tag: str) -> str:
    return f"{REGISTRY}/chatfleet/{name}:{tag}"


def _prune(folder: Path, name: str, keep: Path, generations: int = 2) -> None:
    """Keeps the newest `generations` tars of an image: every source change makes a new one."""
    tars = sorted(folder.glob(f"{name}-*.oci.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [t for t in tars if t != keep][generations - 1 :]:
        old.unlink(missing_ok=True)


def build_images(
    progress: Callable[[str], None] = echo,
    names: Iterable[str] = IMAGE_NAMES,
    state: Path = STATE_DIR,
) -> LocalImages:
    """Builds (or finds cached) base, wheelhouse, the named app images and the pause image.

    BuildKit runs only when an app image's inputs changed; it is stopped before this returns. Needs
    root, mmdebstrap, gcc, and buildkitd/buildctl/runc from `chatfleet dev tools build`.
    """
    from chatfleet.devcluster.tools import BUILDKIT_VERSION, ToolBuildError, ensure_built

    names = list(names)
    unknown = set(names) - set(IMAGE_NAMES)
    if unknown:
        raise ImageBuildError(
            f"unknown image(s) {', '.join(sorted(unknown))}; known: {', '.join(IMAGE_NAMES)}"
        )
    started = time.monotonic()
    with locked(state, progress):
        pause = build_pause(state, progress)
        base = build_base(state, progress)
        wheels, wheels_key = build_wheelhouse(state, progress)
        build_args = {"PYTHON_IMAGE": base.ref, **OFFLINE_BUILD_ARGS}
        planned: dict[str, LocalImage] = {}
        for name in names:
            dockerfile = IMAGES_DIR / f"Dockerfile.{name}"
            inputs = {
                "base": base.manifest_digest,
                "wheels": wheels_key,
                "buildkit": BUILDKIT_VERSION,
                **{f"build-arg:{k}": v for k, v in build_args.items()},
            }
            tag = image_inputs_hash(REPO_ROOT, dockerfile, inputs)[:12]
            tar = state / "out" / f"{name}-{tag}.oci.tar"
            planned[name] = LocalImage(
                name, image_ref(name, tag), tar, image_ref(name, DEV_TAG), cached=tar.exists()
            )
        stale = [image for image in planned.values() if not image.cached]
        for image in planned.values():
            if image.cached:
                progress(f"{image.ref} is current ({image.tar})")
        if stale:
            try:
                # loopback: the CNI plugin that gives build steps a network namespace with only `lo`.
                tools = ensure_built(["buildkitd", "buildctl", "runc", "loopback"], progress=progress)
            except ToolBuildError as error:
                raise ImageBuildError(f"the image builder could not be built: {error}") from None
            daemon = BuildKitDaemon(
                tools["buildkitd"],
                tools["buildctl"],
                tools["runc"],
                state / "buildkit",
                progress,
                cni_bin_dir=tools["loopback"].parent,
            )
            try:
                with daemon:
                    for image in stale:
                        _build_one(daemon, image, base, wheels, build_args, state, progress)
            except BuildKitError as error:
                raise ImageBuildError(str(error)) from None
    images = LocalImages(
        chat=planned.get("chat"),
        operator=planned.get("operator"),
        loadtest=planned.get("loadtest"),
        pause=pause,
        base_ref=f"{base.ref}@{base.manifest_digest}",
    )
    progress(f"images ready in {time.monotonic() - started:.1f} s")
    return images


def _build_one(
    daemon: BuildKitDaemon,
    image: LocalImage,
    base: BaseImage,
    wheels: Path,
    build_args: dict[str, str],
    state: Path,
    progress: Callable[[str], None],
) -> None:
    started = time.monotonic()
    progress(f"building {image.ref} from images/Dockerfile.{image.name} (BuildKit)")
    scratch = image.tar.with_name(f".{image.tar.name}.partial")
    scratch.unlink(missing_ok=True)
    daemon.build(
        context=REPO_ROOT,
        dockerfile=IMAGES_DIR / f"Dockerfile.{image.name}",
        output=scratch,
        names=image.refs,
        build_args=build_args,
        named_contexts={
            base.ref: OCILayoutInput("base", base.layout, base.manifest_digest).context(),
            "wheels": "local:wheels",
        },
        local_dirs={"wheels": wheels},
        layouts=[OCILayoutInput("base", base.layout, base.manifest_digest)],
        log=state / f"{image.name}.build.log",
    )
    refs = oci.validate(scratch, layers=False)
    if sorted(refs) != sorted(image.refs):
        raise ImageBuildError(f"{scratch}: BuildKit named the image {refs}, expected {list(image.refs)}")
    os.replace(scratch, image.tar)
    _prune(image.tar.parent, image.name, image.tar)
    size = image.tar.stat().st_size / 1e6
    progress(f"built {image.ref} ({size:.0f} MB) in {time.monotonic() - started:.1f} s")


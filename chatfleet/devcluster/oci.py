"""A small OCI image-layout writer and reader (stdlib only), for images made without a registry.

The local node's base and pause images are not pulled: they are assembled here from a root filesystem tar
(mmdebstrap) or a single static binary. BuildKit reads the unpacked layout (`--oci-layout`), containerd
imports its tar (`ctr images import`). Layers are gzip-compressed in one pass that hashes both the
compressed stream (the blob digest) and the plain tar (the config's diff_id), as the image spec requires.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
# A fixed timestamp keeps config and manifest digests a function of the content alone.
EPOCH = "1970-01-01T00:00:00Z"
_CHUNK = 1 << 20


class OCIError(RuntimeError):
    """An OCI layout or archive is malformed; the message names the blob or file at fault."""


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest or index points at."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Layer:
    """A compressed layer blob and the digest of its uncompressed tar (the config's diff_id)."""

    descriptor: Descriptor
    diff_id: str


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config (what `docker inspect` shows under Config)."""

    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    user: str = ""
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


def go_arch(machine: str | None = None) -> str:
    """The OCI/Go architecture name of this machine (containerd matches images to the host by it)."""
    machine = machine or platform.machine()
    return {
        "x86_64": "amd64",
        "aarch64": "arm64",
        "armv7l": "arm",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
    }.get(machine, machine)


def image_name_annotations(ref: str) -> dict[str, str]:
    """Index annotations for one ref: containerd's import reads the full name, other tools the tag."""
    tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
    return {ANNOTATION_IMAGE_NAME: ref, ANNOTATION_REF_NAME: tag}


class _HashingWriter:
    """A write-only file object that hashes, counts and forwards (gzip writes its output here)."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()


class Layout:
    """An OCI image layout directory (oci-layout, index.json, blobs/sha256/...)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"

    def create(self) -> Layout:
        self.blobs.mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        if not (self.root / "index.json").exists():
            self._write_index([])
        return self

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64:
            raise OCIError(f"unsupported digest {digest!r} (only sha256 is written and read here)")
        return self.blobs / hexdigest

    def add_bytes(self, data: bytes, media_type: str) -> Descriptor:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            _atomic_write(path, data)
        return Descriptor(media_type, digest, len(data))

    def add_json(self, document: Mapping[str, Any], media_type: str) -> Descriptor:
        return self.add_bytes(_canonical(document), media_type)

    def add_layer(self, tar_stream: BinaryIO, compresslevel: int = 6) -> Layer:
        """Gzips a layer tar into a blob in one pass, hashing the tar (diff_id) and the gzip (digest)."""
        diff = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=self.blobs, prefix=".layer-", delete=False) as scratch:
            out = _HashingWriter(scratch)
            # mtime=0 and no file name: the same tar always gives the same blob digest.
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=out, compresslevel=compresslevel, mtime=0
            ) as gz:
                while chunk := tar_stream.read(_CHUNK):
                    diff.update(chunk)
                    gz.write(chunk)
        digest = "sha256:" + out.sha.hexdigest()
        os.chmod(scratch.name, 0o644)
        os.replace(scratch.name, self.blob_path(digest))
        return Layer(Descriptor(MEDIA_LAYER_GZIP, digest, out.size), "sha256:" + diff.hexdigest())

    def add_image(self, layers: Sequence[Layer], config: ImageConfig, refs: Sequence[str]) -> Descriptor:
        """Writes config and manifest and lists the manifest once per ref in index.json."""
        document: dict[str, Any] = {
            "created": EPOCH,
            "architecture": go_arch(),
            "os": "linux",
            "config": _config_section(config),
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [{"created": EPOCH, "created_by": "chatfleet.devcluster.oci"} for _ in layers],
        }
        config_desc = self.add_json(document, MEDIA_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": config_desc.to_json(),
            "layers": [layer.descriptor.to_json() for layer in layers],
        }
        manifest_desc = self.add_json(manifest, MEDIA_MANIFEST)
        entries = [
            m
            for m in self.index()["manifests"]
            if m.get("annotations", {}).get(ANNOTATION_IMAGE_NAME) not in refs
        ]
        for ref in refs:
            entry = Descriptor(
                MEDIA_MANIFEST, manifest_desc.digest, manifest_desc.size, image_name_annotations(ref)
            )
            entries.append(entry.to_json())
        self._write_index(entries)
        return manifest_desc

    def index(self) -> dict[str, Any]:
        return json.loads((self.root / "index.json").read_text())

    def read_json(self, digest: str) -> dict[str, Any]:
        return json.loads(self.blob_path(digest).read_bytes())

    def _write_index(self, manifests: list[dict[str, Any]]) -> None:
        index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
        _atomic_write(self.root / "index.json", _canonical(index))

    def archive(self, dest: Path) -> Path:
        """Tars the layout (what `ctr images import` reads), written beside dest and renamed into place."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        paths = [self.root / "oci-layout", self.root / "index.json", *sorted(self.blobs.iterdir())]
        with (
            tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}-", delete=False) as scratch,
            tarfile.open(fileobj=scratch, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for path in paths:
                if path.name.startswith("."):
                    continue
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(self.root)))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with path.open("rb") as data:
                    tar.addfile(info, data)
        os.chmod(scratch.name, 0o644)
        os.replace(scratch.name, dest)
        return dest


def _config_section(config: ImageConfig) -> dict[str, Any]:
    section: dict[str, Any] = {"Env": list(config.env)}
    if config.entrypoint is not None:
        section["Entrypoint"] = list(config.entrypoint)
    if config.cmd is not None:
        section["Cmd"] = list(config.cmd)
    if config.user:
        section["User"] = config.user
    if config.working_dir:
        section["WorkingDir"] = config.working_dir
    if config.labels:
        section["Labels"] = dict(config.labels)
    return section


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", delete=False) as scratch:
        scratch.write(data)
    os.chmod(scratch.name, 0o644)
    os.replace(scratch.name, path)


def single_file_layer(files: Mapping[str, tuple[bytes, int]]) -> io.BytesIO:
    """A layer tar holding the given files (path -> (content, mode)) with their parent directories."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories: set[str] = set()
        for name in sorted(files):
            parts = name.strip("/").split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            content, mode = files[name]
            info = tarfile.TarInfo(name.strip("/"))
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer


# ---- reading: used by the tests, the build's own checks and the rootfs unpacking of a smoke run ----


class OCIArchive:
    """Read access to an OCI layout that is either a directory or a tar of one (as BuildKit exports it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar = None if path.is_dir() else tarfile.open(path)  # noqa: SIM115 (closed by __exit__)

    def __enter__(self) -> OCIArchive:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._tar is not None:
            self._tar.close()

    def open(self, name: str) -> IO[bytes]:
        if self._tar is None:
            return (self.path / name).open("rb")
        member = self._tar.extractfile(name)
        if member is None:
            raise OCIError(f"{self.path}: {name} is missing")
        return member

    def names(self) -> set[str]:
        if self._tar is None:
            return {str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file()}
        return set(self._tar.getnames())

    def read_json(self, name: str) -> dict[str, Any]:
        with self.open(name) as handle:
            return json.loads(handle.read())

    def blob(self, digest: str) -> IO[bytes]:
        return self.open("blobs/" + digest.replace(":", "/", 1))

    def blob_json(self, digest: str) -> dict[str, Any]:
        with self.blob(digest) as handle:
            return json.loads(handle.read())

    def manifests(self) -> list[dict[str, Any]]:
        """Index entries, with nested indexes (BuildKit may write one) flattened to image manifests."""
        found: list[dict[str, Any]] = []
        pending = list(self.read_json("index.json")["manifests"])
        while pending:
            entry = pending.pop(0)
            if entry["mediaType"] == MEDIA_INDEX:
                nested = self.blob_json(entry["digest"])["manifests"]
                pending += [
                    {**m, "annotations": {**entry.get("annotations", {}), **m.get("annotations", {})}}
                    for m in nested
                ]
            else:
                found.append(entry)
        return found

    def refs(self) -> list[str]:
        return [
            m["annotations"][ANNOTATION_IMAGE_NAME]
            for m in self.manifests()
            if ANNOTATION_IMAGE_NAME in m.get("annotations", {})
        ]

    def image(self, ref: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(manifest, config) of the image named ref, or of the only image when ref is None."""
        entries = self.manifests()
        if ref is not None:
            entries = [m for m in entries if m.get("annotations", {}).get(ANNOTATION_IMAGE_NAME) == ref]
        digests = {m["digest"] for m in entries}
        if len(digests) != 1:
            raise OCIError(
                f"{self.path}: expected one image{f' named {ref}' if ref else ''}, found {len(digests)}"
            )
        manifest = self.blob_json(digests.pop())
        return manifest, self.blob_json(manifest["config"]["digest"])

    def layer_stream(self, descriptor: Mapping[str, Any]) -> IO[bytes]:
        raw = self.blob(descriptor["digest"])
        if descriptor["mediaType"] in (MEDIA_LAYER_GZIP, DOCKER_LAYER_GZIP):
            return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
        if descriptor["mediaType"] == MEDIA_LAYER_TAR:
            return raw
        raise OCIError(
            f"{self.path}: layer {descriptor['digest']} has unsupported media type {descriptor['mediaType']}"
        )


def _digest_of(stream: IO[bytes]) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return "sha256:" + sha.hexdigest(), size


def validate(path: Path, layers: bool = True) -> list[str]:
    """Checks a layout or its tar: every blob matches its digest and size, diff_ids match the layers.

    `layers=False` checks index, manifests and configs only (seconds less per 100 MB of layers, for
    BuildKit's own output). Returns the image names of the index; raises OCIError naming the first
    inconsistency.
    """
    with OCIArchive(path) as archive:
        layout = archive.read_json("oci-layout")
        if layout.get("imageLayoutVersion") != "1.0.0":
            raise OCIError(f"{path}: oci-layout has imageLayoutVersion {layout.get('imageLayoutVersion')!r}")
        checked: set[str] = set()

        def check(descriptor: Mapping[str, Any]) -> None:
            if descriptor["digest"] in checked:
                return
            with archive.blob(descriptor["digest"]) as blob:
                digest, size = _digest_of(blob)
            if digest != descriptor["digest"] or size != descriptor["size"]:
                raise OCIError(
                    f"{path}: blob {descriptor['digest']} has digest {digest} and size {size}, "
                    f"its descriptor says size {descriptor['size']}"
                )
            checked.add(digest)

        entries = archive.manifests()
        if not entries:
            raise OCIError(f"{path}: index.json lists no image")
        for entry in entries:
            check(entry)
            manifest = archive.blob_json(entry["digest"])
            check(manifest["config"])
            config = archive.blob_json(manifest["config"]["digest"])
            diff_ids = config["rootfs"]["diff_ids"]
            if len(diff_ids) != len(manifest["layers"]):
                raise OCIError(f"{path}: {len(manifest['layers'])} layers but {len(diff_ids)} diff_ids")
            for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
                if not layers:
                    continue
                check(layer)
                with archive.layer_stream(layer) as plain:
                    actual, _ = _digest_of(plain)
                if actual != diff_id:
                    raise OCIError(
                        f"{path}: layer {layer['digest']} unpacks to {actual}, config says {diff_id}"
                    )
            for key in ("os", "architecture"):
                if not config.get(key):
                    raise OCIError(f"{path}: config {manifest['config']['digest']} has no {key}")
        return archive.refs()


def unpack_rootfs(path: Path, dest: Path, ref: str | None = None) -> dict[str, Any]:
    """Applies an image's layers in order into dest (whiteouts honoured); returns the image config.

    For smoke-running an image with runc or chroot without a container engine. Trusted input only: the
    images built on this machine (links are extracted as they are).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with OCIArchive(path) as archive:
        manifest, config = archive.image(ref)
        for layer in manifest["layers"]:
            with archive.layer_stream(layer) as plain, tarfile.open(fileobj=plain, mode="r|") as tar:
                for member in _apply_whiteouts(tar, dest):
                    tar.extract(member, dest, set_attrs=True, numeric_owner=True, filter="fully_trusted")
    return config


def _apply_whiteouts(tar: tarfile.TarFile, dest: Path) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        name = Path(os.path.normpath(member.name).lstrip("/"))
        if name.name == ".wh..wh..opq":
            for child in (dest / name.parent).iterdir():
                _remove(child)
            continue
        if name.name.startswith(".wh."):
            _remove(dest / name.parent / name.name[len(".wh.") :])
            continue
        target = dest / name
        if target.is_symlink() or (target.exists() and not (target.is_dir() and member.isdir())):
            _remove(target)
        yield member


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()

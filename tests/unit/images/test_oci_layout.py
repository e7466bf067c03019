"""The stdlib OCI layout writer (chatfleet.devcluster.oci) makes layouts that validate by the spec's rules.

containerd's import and BuildKit's oci-layout context both trust what the layout says: a wrong diff_id or
digest only shows up as a failed pod start much later. So each rule is checked here, and the validator
itself is shown to catch a broken blob.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from chatfleet.devcluster import oci

REFS = ("chatfleet.local/test/app:abc123", "chatfleet.local/test/app:dev")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_image(root: Path, files: dict[str, tuple[bytes, int]] | None = None) -> oci.Descriptor:
    layout = oci.Layout(root).create()
    layer = layout.add_layer(oci.single_file_layer(files or {"app/run": (b"#!/bin/sh\necho hi\n", 0o755)}))
    config = oci.ImageConfig(entrypoint=("/app/run",), cmd=("--help",), user="10001:10001")
    return layout.add_image([layer], config, REFS)


def test_layout_validates_and_index_names_every_ref(tmp_path: Path) -> None:
    manifest_desc = make_image(tmp_path / "layout")
    assert sorted(oci.validate(tmp_path / "layout")) == sorted(REFS)
    assert json.loads((tmp_path / "layout" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["mediaType"] == oci.MEDIA_INDEX and index["schemaVersion"] == 2
    annotations = {entry["annotations"][oci.ANNOTATION_IMAGE_NAME]: entry for entry in index["manifests"]}
    assert annotations.keys() == set(REFS)
    assert annotations[REFS[0]]["annotations"][oci.ANNOTATION_REF_NAME] == "abc123"
    assert annotations[REFS[1]]["annotations"][oci.ANNOTATION_REF_NAME] == "dev"
    assert {entry["digest"] for entry in index["manifests"]} == {manifest_desc.digest}


def test_digests_sizes_and_diff_ids_follow_the_spec(tmp_path: Path) -> None:
    make_image(tmp_path / "layout")
    blobs = tmp_path / "layout" / "blobs" / "sha256"
    for blob in blobs.iterdir():
        assert blob.name == hashlib.sha256(blob.read_bytes()).hexdigest(), "a blob is named by its digest"
    with oci.OCIArchive(tmp_path / "layout") as archive:
        manifest, config = archive.image(REFS[0])
    assert manifest["mediaType"] == oci.MEDIA_MANIFEST
    assert manifest["config"]["mediaType"] == oci.MEDIA_CONFIG
    (layer,) = manifest["layers"]
    compressed = (blobs / layer["digest"].split(":")[1]).read_bytes()
    assert layer["mediaType"] == oci.MEDIA_LAYER_GZIP and layer["size"] == len(compressed)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha256(gzip.decompress(compressed))]}
    assert (config["os"], config["architecture"]) == ("linux", oci.go_arch())
    assert config["config"]["Entrypoint"] == ["/app/run"] and config["config"]["User"] == "10001:10001"
    assert config["config"]["Env"][0].startswith("PATH=/usr/local/sbin:")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(compressed))) as tar:
        assert {m.name: m.mode for m in tar.getmembers()} == {"app": 0o755, "app/run": 0o755}


def test_same_content_gives_the_same_digests(tmp_path: Path) -> None:
    """No timestamps or temp names leak into blobs: a rebuild of the same input is byte-identical."""
    assert make_image(tmp_path / "one") == make_image(tmp_path / "two")


def test_archive_is_an_importable_tar_that_validates(tmp_path: Path) -> None:
    make_image(tmp_path / "layout")
    tar_path = oci.Layout(tmp_path / "layout").archive(tmp_path / "out" / "image.oci.tar")
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
    assert names[:2] == ["oci-layout", "index.json"], "containerd finds the layout markers first"
    assert all(name.startswith("blobs/sha256/") for name in names[2:]) and len(names) == 5
    assert sorted(oci.validate(tar_path)) == sorted(REFS)
    assert list((tmp_path / "out").iterdir()) == [tar_path], "no scratch file left beside it"


def test_validate_names_a_corrupt_blob_and_a_wrong_diff_id(tmp_path: Path) -> None:
    make_image(tmp_path / "layout")
    with oci.OCIArchive(tmp_path / "layout") as archive:
        manifest, _ = archive.image(REFS[0])
    layout = oci.Layout(tmp_path / "layout")
    layer_blob = layout.blob_path(manifest["layers"][0]["digest"])
    original = layer_blob.read_bytes()
    layer_blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(oci.OCIError, match=manifest["layers"][0]["digest"]):
        oci.validate(tmp_path / "layout")
    layer_blob.write_bytes(original)

    config = layout.read_json(manifest["config"]["digest"])
    config["rootfs"]["diff_ids"] = [sha256(b"something else")]
    bad_config = layout.add_json(config, oci.MEDIA_CONFIG)
    bad_manifest = layout.add_json({**manifest, "config": bad_config.to_json()}, oci.MEDIA_MANIFEST)
    index = layout.index()
    index["manifests"] = [{**index["manifests"][0], "digest": bad_manifest.digest, "size": bad_manifest.size}]
    (tmp_path / "layout" / "index.json").write_text(json.dumps(index))
    with pytest.raises(oci.OCIError, match="unpacks to"):
        oci.validate(tmp_path / "layout")


def test_a_second_image_keeps_other_refs_and_replaces_its_own(tmp_path: Path) -> None:
    layout = oci.Layout(tmp_path / "layout").create()
    first = layout.add_layer(oci.single_file_layer({"a": (b"1", 0o644)}))
    second = layout.add_layer(oci.single_file_layer({"a": (b"2", 0o644)}))
    layout.add_image([first], oci.ImageConfig(), ["x.local/a:1", "x.local/a:dev"])
    newer = layout.add_image([second], oci.ImageConfig(), ["x.local/a:2", "x.local/a:dev"])
    assert sorted(oci.validate(tmp_path / "layout")) == ["x.local/a:1", "x.local/a:2", "x.local/a:dev"]
    with oci.OCIArchive(tmp_path / "layout") as archive:
        dev = [
            m for m in archive.manifests() if m["annotations"][oci.ANNOTATION_IMAGE_NAME] == "x.local/a:dev"
        ]
    assert [m["digest"] for m in dev] == [newer.digest], "a moved tag points at the new image only"


def test_unpack_rootfs_applies_layers_and_whiteouts(tmp_path: Path) -> None:
    layout = oci.Layout(tmp_path / "layout").create()
    lower = layout.add_layer(
        oci.single_file_layer(
            {"etc/keep": (b"k", 0o644), "etc/gone": (b"g", 0o644), "bin/tool": (b"1", 0o755)}
        )
    )
    upper = layout.add_layer(oci.single_file_layer({"etc/.wh.gone": (b"", 0o644), "bin/tool": (b"2", 0o755)}))
    layout.add_image([lower, upper], oci.ImageConfig(cmd=("/bin/tool",)), ["x.local/layers:1"])
    rootfs = tmp_path / "rootfs"
    config = oci.unpack_rootfs(oci.Layout(tmp_path / "layout").archive(tmp_path / "l.tar"), rootfs)
    assert config["config"]["Cmd"] == ["/bin/tool"]
    assert (rootfs / "etc" / "keep").read_text() == "k"
    assert not (rootfs / "etc" / "gone").exists() and not (rootfs / "etc" / ".wh.gone").exists()
    assert (rootfs / "bin" / "tool").read_text() == "2" and (rootfs / "bin" / "tool").stat().st_mode & 0o111


def test_go_arch_names() -> None:
    assert oci.go_arch("x86_64") == "amd64"
    assert oci.go_arch("aarch64") == "arm64"
    assert oci.image_name_annotations("r.local/a/b:1.2") == {
        oci.ANNOTATION_IMAGE_NAME: "r.local/a/b:1.2",
        oci.ANNOTATION_REF_NAME: "1.2",
    }

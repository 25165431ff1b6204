"""rechunk_plate: identical pixels, every attribute, the chunks and codecs asked for."""

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

from viscy_data.outputs import MARKER_ATTRIBUTE
from viscy_data.readers import PatchReader, read_plate, tensorstore_spec
from viscy_data.rechunk import MANIFEST_NAME, rechunk_plate
from viscy_data.rechunk.manifest import OUTPUT_KIND
from viscy_data.testing import create_hcs_plate, tree_digest, write_hcs_plate

from .conftest import CHANNELS, FOVS, encoded, make_plate, normalization, read_pixels


def _split(attrs: dict) -> tuple[dict, dict]:
    """(NGFF metadata with every 'version' removed, the other keys), from either layout."""
    attrs = json.loads(json.dumps(attrs))
    if "ome" in attrs:
        ngff, other = attrs.pop("ome"), attrs
    else:
        keys = ("plate", "well", "multiscales", "omero")
        ngff = {k: attrs.pop(k) for k in keys if k in attrs}
        other = attrs
    ngff.pop("version", None)
    for entry in [*(ngff.get(k) for k in ("plate", "well", "omero")), *ngff.get("multiscales", [])]:
        if isinstance(entry, dict):
            entry.pop("version", None)
    return ngff, other


def _attrs(plate: Path, path: str = "") -> dict:
    return zarr.open_group(plate, path=path, mode="r").attrs.asdict()


@pytest.mark.parametrize(("source", "target"), [("0.4", "0.4"), ("0.4", "0.5"), ("0.5", "0.4"),
                                                ("0.5", "0.5")])  # fmt: skip
def test_copy_keeps_pixels_and_every_attribute(tmp_path, source, target):
    src, arrays = make_plate(tmp_path / "src.zarr", source)
    before = tree_digest(src)
    summary = rechunk_plate(src, tmp_path / "dst.zarr", ngff_version=target, num_workers=2)
    dst = tmp_path / "dst.zarr"
    assert tree_digest(src) == before
    assert not (dst / MANIFEST_NAME).exists()
    plate = read_plate(dst)
    assert plate.ngff_version == target and plate.channel_names == CHANNELS
    assert all(fov.zarr_format == (3 if target == "0.5" else 2) for fov in plate.fovs)
    assert [fov.chunks for fov in plate.fovs] == [(1, 1, 3, 40, 36)] * 3  # Z whole, Y/X clipped
    assert [fov.normalization for fov in plate.fovs] == [normalization(i) for i in range(3)]
    pixels = read_pixels(dst)
    assert all(np.array_equal(pixels[name], arrays[name]) for name in FOVS)
    assert (summary.fovs, summary.resumed, summary.ngff_version) == (FOVS, (), target)
    assert summary.bytes_copied == sum(a.nbytes for a in arrays.values())
    assert summary.destination == dst.resolve() and summary.source == str(src.resolve())
    marker = _attrs(dst).get(MARKER_ATTRIBUTE)  # the copy says it is ours, and of what
    assert marker["kind"] == OUTPUT_KIND and marker["source"] == str(src.resolve())
    for path in ("", "A", "A/1", "B/2"):  # plate, row and well groups: every key
        copied = _attrs(dst, path)
        copied.pop(MARKER_ATTRIBUTE, None)
        assert _split(copied) == _split(_attrs(src, path)), path
    for name in FOVS:
        (ngff, other), (src_ngff, src_other) = _split(_attrs(dst, name)), _split(_attrs(src, name))
        assert other == src_other and set(other) == {"normalization", "tracking"}
        levels = src_ngff["multiscales"][0]["datasets"]
        assert ngff["multiscales"][0]["datasets"] == levels[:1] and len(levels) == 2
        src_ngff["multiscales"][0]["datasets"] = levels[:1]
        assert ngff == src_ngff
        assert not (dst / name / "1").exists()  # lower pyramid levels are not copied


def test_chunks_are_the_ones_asked_for_clipped_to_each_fov(tmp_path):
    src, arrays = make_plate(tmp_path / "src.zarr")
    rechunk_plate(src, tmp_path / "small.zarr", chunks=(1, 1, 1, 16, 16), num_workers=0)
    rechunk_plate(src, tmp_path / "big.zarr", chunks=[2, -1, 2, 1000, 1000], num_workers=1)
    for name, want in (("small", (1, 1, 1, 16, 16)), ("big", (2, 2, 2, 40, 36))):
        plate = tmp_path / f"{name}.zarr"
        assert {fov.chunks for fov in read_plate(plate).fovs} == {want}
        pixels = read_pixels(plate)
        assert all(np.array_equal(pixels[fov], arrays[fov]) for fov in FOVS)


def test_sharded_copy(tmp_path):
    src, arrays = make_plate(tmp_path / "src.zarr")
    summary = rechunk_plate(
        src, tmp_path / "dst.zarr", chunks=(1, 1, 1, 16, 16), shards=(1, 1, -1, 32, 64),
        ngff_version="0.5",
    )  # fmt: skip
    array = zarr.open_array(tmp_path / "dst.zarr" / "A/1/0" / "0", mode="r")
    assert (array.shards, array.chunks) == ((1, 1, 3, 32, 48), (1, 1, 1, 16, 16))
    assert summary.shards["A/1/0"] == (1, 1, 3, 32, 48)  # X: 36 px, 3 chunks in one shard
    assert read_plate(tmp_path / "dst.zarr").fovs[0].chunks == (1, 1, 1, 16, 16)
    pixels = read_pixels(tmp_path / "dst.zarr")
    assert all(np.array_equal(pixels[fov], arrays[fov]) for fov in FOVS)


def test_a_sharded_source_becomes_unsharded_v2(tmp_path):
    sharded = dict(chunks=(1, 1, 1, 8, 12), shards=(3, 2, 3, 40, 36))
    src, arrays = make_plate(tmp_path / "src.zarr", "0.5", **sharded)
    rechunk_plate(src, tmp_path / "dst.zarr", chunks=(1, 1, 1, 20, 18), ngff_version="0.4")
    assert (tmp_path / "dst.zarr" / "A/1/0" / "0" / ".zarray").is_file()
    pixels = read_pixels(tmp_path / "dst.zarr")
    assert all(np.array_equal(pixels[fov], arrays[fov]) for fov in FOVS)


def test_patches_read_from_the_copy_equal_the_source(tmp_path):
    src, _ = make_plate(tmp_path / "src.zarr", "0.5")
    rechunk_plate(src, tmp_path / "dst.zarr", chunks=(1, 1, 1, 16, 16), ngff_version="0.4")
    readers = [
        PatchReader({fov.fov_name: tensorstore_spec(fov) for fov in read_plate(plate).fovs})
        for plate in (src, tmp_path / "dst.zarr")
    ]
    rng = np.random.default_rng(0)
    keys = list(rng.choice(FOVS, 16))
    args = (
        keys, rng.integers(0, 3, 16), [(1, 0)] * 16, slice(0, 3),
        rng.integers(0, 40 - 24, 16), rng.integers(0, 36 - 24, 16), (24, 24),
    )  # fmt: skip
    src_patches, dst_patches = (reader.read(*args) for reader in readers)
    assert src_patches.shape == (16, 2, 3, 24, 24)
    np.testing.assert_array_equal(dst_patches, src_patches)


def _codecs(array_dir: Path) -> object:
    if (array_dir / ".zarray").is_file():
        return json.loads((array_dir / ".zarray").read_text())["compressor"]
    codecs = json.loads((array_dir / "zarr.json").read_text())["codecs"]
    return [c for c in codecs if c["name"] != "bytes"]


BLOSC_V2 = {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 2, "blocksize": 0}
BLOSC_V3 = [
    {"name": "blosc", "configuration": {"typesize": 2, "cname": "zstd", "clevel": 3,
                                        "shuffle": "bitshuffle", "blocksize": 0}}
]  # fmt: skip


@pytest.mark.parametrize(
    ("version", "compression", "want"),
    [("0.4", "source", BLOSC_V2), ("0.5", "source", BLOSC_V3), ("0.5", "none", []),
     ("0.4", "blosc-zstd", {**BLOSC_V2, "clevel": 1}), ("0.4", "none", None)],
)  # fmt: skip
def test_compression_is_the_source_s_unless_asked(tmp_path, version, compression, want):
    data = encoded((2, 2, 1, 12, 10), dtype="uint16")
    src = write_hcs_plate(tmp_path / "src.zarr", {"A/1/0": data}, CHANNELS, compressors=[BLOSC_V2])
    rechunk_plate(src, tmp_path / "dst.zarr", ngff_version=version, compression=compression)
    assert _codecs(tmp_path / "dst.zarr" / "A/1/0" / "0") == want
    fov = read_plate(tmp_path / "dst.zarr").fovs[0]
    assert fov.dtype == "uint16"
    np.testing.assert_array_equal(read_pixels(tmp_path / "dst.zarr")["A/1/0"], data)


def test_zstd_moves_from_v3_to_v2_and_the_array_name_is_kept(tmp_path):
    create_hcs_plate(
        tmp_path / "src.zarr", {"A/1/0": (1, 2, 1, 8, 8)}, CHANNELS, version="0.5",
        dataset_paths=("s0", "s1"),
    )  # fmt: skip
    rechunk_plate(tmp_path / "src.zarr", tmp_path / "dst.zarr", ngff_version="0.4")
    fov = read_plate(tmp_path / "dst.zarr").fovs[0]
    assert fov.array_name == "s0" and not (tmp_path / "dst.zarr" / "A/1/0" / "s1").exists()
    assert _codecs(tmp_path / "dst.zarr" / "A/1/0" / "s0") == {"id": "zstd", "level": 0}
    assert fov.shape == (1, 2, 1, 8, 8) and not read_pixels(tmp_path / "dst.zarr")["A/1/0"].any()


def test_relative_paths_and_default_threads(tmp_path, monkeypatch):
    make_plate(tmp_path / "src.zarr")
    monkeypatch.chdir(tmp_path)
    summary = rechunk_plate("src.zarr", "copies/dst.zarr")
    assert summary.destination == tmp_path / "copies" / "dst.zarr"
    assert summary.num_workers >= 1 and summary.chunks["B/2/0"] == (1, 1, 3, 40, 36)
    assert set(summary.checksums) == set(FOVS) and len(set(summary.checksums.values())) == 3

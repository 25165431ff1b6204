"""read_plate and write_hcs_plate round trip on real NGFF 0.4 (zarr v2) and 0.5 (zarr v3) plates."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import zarr

from viscy_data.readers import FOVInfo, read_plate, tensorstore_spec
from viscy_data.testing import create_hcs_plate, write_hcs_plate

CHANNELS = ["Phase3D", "GFP"]
SHAPE = (3, 2, 4, 16, 20)  # T, C, Z, Y, X
FORMATS = [
    pytest.param("0.4", None, id="v0.4-zarr2"),
    pytest.param("0.5", None, id="v0.5-zarr3"),
    pytest.param("0.5", (3, 2, 4, 16, 20), id="v0.5-zarr3-sharded"),
]
NORM = {
    "GFP": {
        "dataset_statistics": {"mean": 1.0, "std": 2.0, "median": 0.5, "iqr": 1.5},
        "fov_statistics": {"mean": 3.0, "std": 4.0, "median": 2.5, "iqr": 0.5},
        "timepoint_statistics": {
            str(t): {"mean": t, "std": 1.0, "median": t, "iqr": 1.0} for t in range(3)
        },
    }
}


def _fovs(dtype="uint16") -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    names = ["B/1/0", "A/1/1", "A/1/0", "A/12/0"]  # unsorted on purpose; "A/12" sorts before "A/2"
    return {name: rng.integers(0, 4000, SHAPE).astype(dtype) for name in names}


@pytest.mark.parametrize(("version", "shards"), FORMATS)
def test_round_trip(tmp_path, version, shards):
    fovs = _fovs()
    root = write_hcs_plate(
        tmp_path / "plate.zarr", fovs, CHANNELS, version=version, shards=shards,
        chunks=(1, 1, 4, 8, 10), normalization={"A/1/0": NORM},
    )  # fmt: skip
    plate = read_plate(root)
    assert plate.store_path == str(root)
    assert plate.ngff_version == version
    assert plate.channel_names == tuple(CHANNELS)
    assert [f.fov_name for f in plate.fovs] == ["A/1/0", "A/1/1", "A/12/0", "B/1/0"]
    assert plate.well_names == ("A/1", "A/12", "B/1")
    for fov in plate.fovs:
        assert fov.well_name == fov.fov_name.rsplit("/", 1)[0]
        assert (fov.shape, fov.dtype, fov.channel_names) == (SHAPE, "uint16", tuple(CHANNELS))
        assert fov.chunks == (1, 1, 4, 8, 10)
        assert fov.zarr_format == (3 if version == "0.5" else 2)
        assert fov.normalization == (NORM if fov.fov_name == "A/1/0" else None)
        store = ts.open(tensorstore_spec(fov), read=True).result()
        np.testing.assert_array_equal(store.read().result(), fovs[fov.fov_name])


def test_ngff_metadata_layout(tmp_path):
    fovs = {"A/1/0": np.ones(SHAPE, "float32")}
    v04 = write_hcs_plate(tmp_path / "v04.zarr", fovs, CHANNELS, version="0.4")
    v05 = write_hcs_plate(tmp_path / "v05.zarr", fovs, CHANNELS, version="0.5", shards=SHAPE)
    plate04 = json.loads((v04 / ".zattrs").read_text())["plate"]
    assert plate04["version"] == "0.4" and plate04["wells"][0]["path"] == "A/1"
    image04 = json.loads((v04 / "A/1/0/.zattrs").read_text())
    axes = image04["multiscales"][0]["axes"]
    assert [a["name"] for a in axes] == ["T", "C", "Z", "Y", "X"]
    assert [a["type"] for a in axes] == ["time", "channel", "space", "space", "space"]
    transform = image04["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
    assert transform == {"type": "scale", "scale": [1.0] * 5}
    assert [c["label"] for c in image04["omero"]["channels"]] == CHANNELS
    assert json.loads((v04 / "A/1/0/0/.zarray").read_text())["dimension_separator"] == "/"
    assert (v04 / "A/1/0/0/2/1/0/0/0").is_file()  # chunk (t=2, c=1) under "/" keys
    root05 = json.loads((v05 / "zarr.json").read_text())["attributes"]["ome"]
    assert root05["version"] == "0.5" and root05["plate"]["wells"][0]["path"] == "A/1"
    array05 = json.loads((v05 / "A/1/0/0/zarr.json").read_text())
    assert array05["dimension_names"] == ["T", "C", "Z", "Y", "X"]
    assert array05["codecs"][0]["name"] == "sharding_indexed"


@pytest.mark.parametrize(("version", "shards"), FORMATS)
def test_unwritten_channel_reads_fill_value(tmp_path, version, shards):
    arrays = create_hcs_plate(
        tmp_path / "p.zarr", {"A/1/0": SHAPE}, CHANNELS, version=version, shards=shards
    )
    arrays["A/1/0"][:, 0] = 7.0
    fov = read_plate(tmp_path / "p.zarr").fovs[0]
    data = ts.open(tensorstore_spec(fov), read=True).result().read().result()
    assert (data[:, 0] == 7).all() and (data[:, 1] == 0).all()


def test_tensorstore_spec_for_urls_and_local_paths():
    fov = FOVInfo("s3://bucket/exp.zarr/", "A/1/0", "A/1", SHAPE, "uint16", ("a", "b"), None, 3)
    spec = tensorstore_spec(fov)
    assert spec["driver"] == "zarr3" and spec["kvstore"] == "s3://bucket/exp.zarr/A/1/0/0/"
    local = FOVInfo("rel.zarr", "B/2/1", "B/2", SHAPE, "uint16", ("a", "b"), None)
    spec = tensorstore_spec(local, recheck_cached_data=False)
    assert spec["driver"] == "zarr" and spec["recheck_cached_data"] is False
    assert spec["kvstore"]["path"] == f"{Path.cwd() / 'rel.zarr' / 'B/2/1/0'}/"


def test_read_plate_accepts_str_paths(tmp_path):
    write_hcs_plate(tmp_path / "p.zarr", {"A/1/0": np.zeros(SHAPE, "f4")}, CHANNELS)
    assert read_plate(str(tmp_path / "p.zarr")).fovs[0].store_path == str(tmp_path / "p.zarr")


# --- errors -------------------------------------------------------------------------------------


@pytest.fixture(params=["0.4", "0.5"])
def plate(tmp_path, request):
    fovs = {"A/1/0": np.zeros(SHAPE, "float32"), "A/2/0": np.zeros(SHAPE, "float32")}
    return write_hcs_plate(tmp_path / "p.zarr", fovs, CHANNELS, version=request.param)


def _attrs_file(node) -> str:
    return ".zattrs" if (node / ".zgroup").exists() else "zarr.json"


def _edit_image_attrs(fov_dir, edit) -> None:
    path = fov_dir / _attrs_file(fov_dir)
    meta = json.loads(path.read_text())
    attrs = meta["attributes"]["ome"] if path.name == "zarr.json" else meta
    edit(attrs)
    path.write_text(json.dumps(meta))


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.zarr.*does not exist"):
        read_plate(tmp_path / "nope.zarr")


def test_not_a_plate(tmp_path):
    zarr.open_group(tmp_path / "g.zarr", mode="w", zarr_format=2).attrs["foo"] = 1
    with pytest.raises(ValueError, match=r"g\.zarr.*not an OME-Zarr HCS plate.*'plate'"):
        read_plate(tmp_path / "g.zarr")
    zarr.create_array(tmp_path / "a.zarr", shape=(2,), dtype="f4")
    (tmp_path / "empty").mkdir()
    for name in ("a.zarr", "empty"):
        with pytest.raises(ValueError, match=rf"{name}.*not an OME-Zarr HCS plate: no zarr group"):
            read_plate(tmp_path / name)


def test_fov_without_array_0(plate):
    shutil.rmtree(plate / "A/2/0/0")
    with pytest.raises(ValueError, match=r"p\.zarr: FOV 'A/2/0' has no full-resolution array '0'"):
        read_plate(plate)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_full_resolution_array_is_the_first_dataset_whatever_its_name(tmp_path, version):
    data = np.arange(np.prod(SHAPE), dtype="float32").reshape(SHAPE)
    path = write_hcs_plate(
        tmp_path / "p.zarr", {"A/1/0": data}, CHANNELS, version=version, dataset_paths=("s0", "s1")
    )
    assert not (path / "A/1/0/0").exists()
    fov = read_plate(path).fovs[0]
    assert fov.array_name == "s0" and fov.shape == SHAPE
    assert fov.array_path.endswith("A/1/0/s0")
    store = ts.open(tensorstore_spec(fov), read=True).result()
    np.testing.assert_array_equal(store.read().result(), data)
    half = zarr.open_array(path / "A/1/0/s1", mode="r")
    np.testing.assert_array_equal(half[...], data[..., ::2, ::2])


def test_missing_datasets_metadata_is_named(plate):
    _edit_image_attrs(plate / "A/2/0", lambda attrs: attrs["multiscales"][0].pop("datasets"))
    with pytest.raises(ValueError, match=r"FOV 'A/2/0': no 'multiscales\[0\]\.datasets\[0\]"):
        read_plate(plate)


def test_named_full_resolution_array_missing(plate):
    def rename(attrs):
        attrs["multiscales"][0]["datasets"][0]["path"] = "s0"

    _edit_image_attrs(plate / "A/2/0", rename)
    with pytest.raises(ValueError, match=r"FOV 'A/2/0' has no full-resolution array 's0'"):
        read_plate(plate)


def test_array_0_not_5d(plate):
    fmt = 3 if (plate / "zarr.json").exists() else 2
    zarr.create_array(
        plate / "A/1/0/0", shape=(3, 2, 16, 20), dtype="f4", zarr_format=fmt, overwrite=True
    )
    with pytest.raises(
        ValueError, match=r"FOV 'A/1/0'.*4 dimensions.*expected 5-D \(T, C, Z, Y, X\)"
    ):
        read_plate(plate)


def test_axes_not_tczyx(plate):
    def swap(attrs):
        axes = attrs["multiscales"][0]["axes"]
        axes[2], axes[3] = axes[3], axes[2]

    _edit_image_attrs(plate / "A/2/0", swap)
    with pytest.raises(ValueError, match=r"FOV 'A/2/0': axes are \('t', 'c', 'y', 'z', 'x'\)"):
        read_plate(plate)


def test_channel_metadata_errors(plate):
    _edit_image_attrs(plate / "A/2/0", lambda a: a["omero"]["channels"][1].update(label="RFP"))
    with pytest.raises(ValueError, match=r"'A/2/0' has channels \['Phase3D', 'RFP'\] but 'A/1/0'"):
        read_plate(plate)
    _edit_image_attrs(plate / "A/2/0", lambda a: a["omero"]["channels"].pop())
    with pytest.raises(
        ValueError, match=r"OMERO lists 1 channels \['Phase3D'\] but array '0' has 2"
    ):
        read_plate(plate)
    _edit_image_attrs(plate / "A/2/0", lambda a: a.pop("omero"))
    with pytest.raises(ValueError, match=r"FOV 'A/2/0': no channel names"):
        read_plate(plate)


def test_writer_rejects_bad_input(tmp_path):
    data = {"A/1/0": np.zeros(SHAPE, "f4")}
    with pytest.raises(ValueError, match=r"shards=.*needs version='0\.5'"):
        write_hcs_plate(tmp_path / "a.zarr", data, CHANNELS, shards=SHAPE)
    with pytest.raises(ValueError, match=r"'A/1' must read 'row/col/fov'"):
        write_hcs_plate(tmp_path / "b.zarr", {"A/1": data["A/1/0"]}, CHANNELS)
    with pytest.raises(ValueError, match=r"has 2 channels but channel_names lists 1"):
        write_hcs_plate(tmp_path / "c.zarr", data, ["GFP"])
    with pytest.raises(ValueError, match=r"normalization names FOVs \['B/1/0'\]"):
        write_hcs_plate(tmp_path / "d.zarr", data, CHANNELS, normalization={"B/1/0": {}})
    with pytest.raises(ValueError, match=r"version must be '0\.4' or '0\.5', got '0\.6'"):
        write_hcs_plate(tmp_path / "e.zarr", data, CHANNELS, version="0.6")
    write_hcs_plate(tmp_path / "f.zarr", data, CHANNELS)
    with pytest.raises(FileExistsError, match=r"f\.zarr.*already exists"):
        write_hcs_plate(tmp_path / "f.zarr", data, CHANNELS)

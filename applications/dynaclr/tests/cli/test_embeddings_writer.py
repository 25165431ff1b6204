"""Embedding stores are complete or absent: an interrupted predict leaves no partial store."""

import anndata as ad
import lightning.pytorch as pl
import numpy as np
import pytest

from dynaclr.cli.embeddings_writer import EmbeddingWriter
from dynaclr.datamodule import MultiExperimentDataModule
from viscy_data.testing import quiet_trainer
from viscy_models import ContrastiveEncoder, ContrastiveModule


class _Crash(RuntimeError):
    pass


class _CrashAt(pl.Callback):
    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args):
        if batch_idx == self.batch:
            raise _Crash(f"simulated crash at predict batch {batch_idx}")


def _predict(demo_yaml, out, tmp_path, callbacks=(), overwrite=False):
    encoder = ContrastiveEncoder(
        backbone="resnet10t",
        in_channels=2,
        in_stack_depth=1,
        stem_kernel_size=(1, 4, 4),
        stem_stride=(1, 4, 4),
        embedding_dim=512,
        projection_dim=16,
    )
    model = ContrastiveModule(encoder, example_input_array_shape=None)
    dm = MultiExperimentDataModule(
        demo_yaml,
        z_range=(1, 2),
        yx_patch_size=(32, 32),
        final_yx_patch_size=(32, 32),
        batch_size=128,
        num_workers=1,
    )
    trainer = quiet_trainer(
        default_root_dir=tmp_path, callbacks=[EmbeddingWriter(out, overwrite), *callbacks]
    )
    trainer.predict(model, datamodule=dm, return_predictions=False)
    return dm


def test_interrupted_predict_then_rerun(demo_yaml, tmp_path):
    out = tmp_path / "emb.zarr"
    with pytest.raises(_Crash):
        _predict(demo_yaml, out, tmp_path, callbacks=[_CrashAt(2)])
    assert not out.exists()
    dm = _predict(demo_yaml, out, tmp_path)
    first = ad.read_zarr(out)
    tracks = dm.predict_dataset.index.tracks
    assert first.n_obs == tracks.height
    assert (
        len(
            set(
                zip(
                    first.obs["fov_name"],
                    first.obs["experiment"],
                    first.obs["track_id"],
                    first.obs["t"],
                )
            )
        )
        == tracks.height
    )
    np.testing.assert_array_equal(first.obs["t"].to_numpy(), tracks["t"].to_numpy())
    # A crash while overwriting leaves the previous complete store in place.
    with pytest.raises(_Crash):
        _predict(demo_yaml, out, tmp_path, callbacks=[_CrashAt(1)], overwrite=True)
    again = ad.read_zarr(out)
    np.testing.assert_array_equal(again.X, first.X)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".emb.zarr")]


def test_embeddings_write_under_pandas_3_string_inference(tmp_path):
    """pandas 3 infers a "str" dtype for strings, which anndata refuses to write by default;
    ``future.infer_string`` turns that inference on in pandas 2 (found on a pandas 3 machine)."""
    import pandas as pd
    import polars

    from dynaclr.cli.embeddings_writer import write_embeddings

    tracks = polars.DataFrame(
        {"experiment": ["a", "b", None], "fov_name": ["A/1/0", "B/2/1", "A/1/0"], "t": [0, 1, 2]}
    )
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    with pd.option_context("future.infer_string", True):
        out = write_embeddings(tmp_path / "e.zarr", features, features[:, :2], tracks)
    adata = ad.read_zarr(out)
    assert adata.obs["fov_name"].tolist() == ["A/1/0", "B/2/1", "A/1/0"]
    assert adata.obs["experiment"].iloc[:2].tolist() == ["a", "b"]
    assert adata.obs["experiment"].isna().tolist() == [False, False, True]
    assert adata.var_names.tolist() == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(adata.X, features)

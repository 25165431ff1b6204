"""`dynaclr evaluate` on predict stores whose embedding structure is known by construction."""

import json

import numpy as np
import polars as pl
import pytest
from PIL import Image

from dynaclr.cli import main
from dynaclr.cli.embeddings_writer import write_embeddings
from dynaclr.evaluate import effective_rank, read_embeddings
from viscy_data.testing import tree_digest

N_TRACKS, N_FRAMES, DIM = 40, 12, 16


def _store(path, *, signal: float = 3.0, seed: int = 0):
    """Tracks that drift slowly (smooth), half of them infected (shifted along axis 0)."""
    rng = np.random.default_rng(seed)
    track = np.repeat(np.arange(N_TRACKS), N_FRAMES)
    t = np.tile(np.arange(N_FRAMES), N_TRACKS)
    infected = (track % 2).astype(np.int64)
    start = rng.normal(size=(N_TRACKS, DIM))[track]
    drift = np.cumsum(rng.normal(scale=0.05, size=(N_TRACKS * N_FRAMES, DIM)), axis=0)
    drift -= np.repeat(drift[::N_FRAMES], N_FRAMES, axis=0)  # each track starts at its cell
    features = (start + drift).astype(np.float32)
    features[:, 0] += signal * infected
    tracks = pl.DataFrame({
        "experiment": np.where(track < N_TRACKS // 2, "exp_a", "exp_b"),
        "condition": np.where(infected == 1, "infected", "mock"),
        "fov_name": [f"A/{1 + k % 2}/0" for k in track],
        "track_id": track, "t": t, "global_track_id": track, "lineage_id": track // 2 * 2,
        "hours_post_infection": t * 0.5, "infected": infected,
        "constant": np.zeros(track.size, dtype=np.int64),
    })  # fmt: skip
    return write_embeddings(path, features, features[:, :4], tracks)


def test_metrics_report_and_pictures(tmp_path, capsys):
    store = _store(tmp_path / "embeddings.zarr")
    before = tree_digest(store)
    assert main(["evaluate", str(store), "--label", "infected"]) == 0
    out = tmp_path / "embeddings_evaluation"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"n_cells", "labels", "temporal_smoothness", "effective_rank"}
    assert metrics["n_cells"] == N_TRACKS * N_FRAMES
    probe = metrics["labels"]["infected"]
    assert probe["chance"] == 0.5 and probe["balanced_accuracy"] > 0.9
    assert 0 < metrics["temporal_smoothness"] < 0.5  # slow drift: neighbours are close
    assert 1 < metrics["effective_rank"] <= DIM
    report = (out / "report.md").read_text()
    assert "linear probe of `infected`" in report and "![confusion_infected]" in report
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted([
        "map_pca_infected.png", "map_pca_experiment.png", "map_pca_condition.png",
        "map_pca_hours_post_infection.png", "tracks_pca.png", "confusion_infected.png",
    ])  # fmt: skip
    for name in pngs:
        image = np.asarray(Image.open(out / name).convert("L"), dtype=np.float32)
        assert image.shape[0] >= 500 and image.shape[1] >= 600, name
        assert image.std() > 10, f"{name} is blank"
    assert tree_digest(store) == before  # only read
    assert "linear probe of infected: " in capsys.readouterr().out


def test_a_random_encoder_reads_as_chance(tmp_path):
    store = _store(tmp_path / "e.zarr", signal=0.0)
    assert (
        main(["evaluate", str(store), "--label", "infected", "--output", str(tmp_path / "o")]) == 0
    )
    probe = json.loads((tmp_path / "o" / "metrics.json").read_text())["labels"]["infected"]
    assert probe["balanced_accuracy"] < 0.75


def test_effective_rank_counts_the_dimensions_used():
    rng = np.random.default_rng(0)
    assert effective_rank(rng.normal(size=(2000, 8))) == pytest.approx(8, rel=0.05)
    line = np.outer(rng.normal(size=500), rng.normal(size=8))
    assert effective_rank(line) == pytest.approx(1, abs=1e-3)


def test_write_obsm_adds_reductions_only_when_asked(tmp_path):
    store = _store(tmp_path / "e.zarr")
    assert main(["evaluate", str(store), "--write-obsm"]) == 0
    import anndata as ad

    adata = ad.read_zarr(store)
    assert adata.obsm["X_pca"].shape == (N_TRACKS * N_FRAMES, 2)
    assert "X_projections" in adata.obsm and read_embeddings(store).features.shape[1] == DIM


CASES = ["unknown-label", "one-class", "not-a-store", "missing", "output-in-store",
         "output-exists", "foreign-overwrite"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_requests_name_the_problem_and_write_nothing(tmp_path, capsys, case):
    store = _store(tmp_path / "e.zarr")
    args, expected = [str(store)], []
    if case == "unknown-label":
        args += ["--label", "infectd"]
        expected = ["--label 'infectd'", "no such obs column", "'infected'"]
    elif case == "one-class":
        args += ["--label", "constant"]
        expected = ["--label 'constant'", "holds 1 class(es)"]
    elif case == "not-a-store":
        (tmp_path / "plain").mkdir()
        (tmp_path / "plain" / "notes.txt").write_text("x")
        args = [str(tmp_path / "plain")]
        expected = ["is not a dynaclr predict output: it is not a zarr store"]
    elif case == "missing":
        args = [str(tmp_path / "nope.zarr")]
        expected = ["nope.zarr' does not exist"]
    elif case == "output-in-store":
        args += ["--output", str(store / "eval")]
        expected = ["lies inside the embeddings store"]
    elif case == "output-exists":
        (tmp_path / "e_evaluation").mkdir()
        (tmp_path / "e_evaluation" / "mine.txt").write_text("keep")
        expected = ["already exists", "--overwrite"]
    else:
        (tmp_path / "e_evaluation").mkdir()
        (tmp_path / "e_evaluation" / "mine.txt").write_text("keep")
        args += ["--overwrite"]
        expected = ["holds nothing written by viscy, not a 'dynaclr evaluation' output"]
    before = tree_digest(tmp_path)
    assert main(["evaluate", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynaclr evaluate: error: ") and "Traceback" not in err
    for fragment in expected:
        assert fragment in err, err
    assert tree_digest(tmp_path) == before


def test_overwrite_replaces_its_own_output(tmp_path):
    store = _store(tmp_path / "e.zarr")
    assert main(["evaluate", str(store)]) == 0
    assert main(["evaluate", str(store)]) == 2
    assert main(["evaluate", str(store), "--label", "infected", "--overwrite"]) == 0
    assert (tmp_path / "e_evaluation" / "confusion_infected.png").is_file()

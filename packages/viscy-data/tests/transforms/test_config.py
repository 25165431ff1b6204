"""Transforms built from YAML (class_path/init_args) and chained with BatchCompose."""

import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
import yaml
from jsonargparse import ArgumentParser
from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.demos.boring_classes import BoringModel

from viscy_data.transforms import (
    BatchCompose,
    BatchTransform,
    CenterCrop,
    Normalize,
    RandomAffine,
    RandomGaussianNoise,
    RandomIntensityScale,
)

AUGMENTATIONS_YAML = """
t:
  class_path: viscy_data.transforms.RandomAffine
  init_args:
    rotation_degrees: [-45, 45]
    scale_range: [0.8, 1.2]
    shear_degrees: [-5, 5]
    prob: 0.8
ts:
  - class_path: viscy_data.transforms.Normalize
    init_args: {level: timepoint_statistics, subtrahend: median, divisor: iqr, channels: [0]}
  - class_path: viscy_data.transforms.RandomGaussianSmooth
    init_args: {sigma_yx_range: [0.5, 1.0], sigma_z_range: [0.0, 0.5]}
  - class_path: viscy_data.transforms.CenterCrop
    init_args: {size: [32, 32]}
"""


DOCS = Path(__file__).resolve().parents[4] / "docs" / "viscy-data" / "transforms.md"


def _parser() -> ArgumentParser:
    parser = ArgumentParser()
    parser.add_argument("--t", type=BatchTransform)
    parser.add_argument("--ts", type=list[BatchTransform], default=[])
    return parser


def test_class_path_init_args_build_transforms_with_typed_arguments():
    parser = _parser()
    cfg = parser.parse_string(AUGMENTATIONS_YAML)
    built = parser.instantiate(cfg)
    assert isinstance(built.t, RandomAffine)
    assert built.t.rotation_degrees == (-45.0, 45.0) and built.t.prob == 0.8
    norm, smooth, crop = built.ts
    assert (norm.level, norm.subtrahend, norm.divisor, norm.channels) == (
        "timepoint_statistics",
        "median",
        "iqr",
        (0,),
    )
    assert smooth.sigma_z_range == (0.0, 0.5)
    assert crop.size == (32, 32)


def test_dumped_config_parses_back_to_the_same_config():
    parser = _parser()
    cfg = parser.parse_string(AUGMENTATIONS_YAML)
    again = parser.parse_string(parser.dump(cfg))
    assert again == cfg


@pytest.mark.parametrize(
    ("init_args", "message"),
    [({"level": "fov"}, "fov"), ({"level": "fov_statistics", "eps": "small"}, "eps")],
)
def test_bad_yaml_values_are_rejected_at_parse_time(init_args, message, capsys):
    doc = {"t": {"class_path": "viscy_data.transforms.Normalize", "init_args": init_args}}
    with pytest.raises(SystemExit):
        _parser().parse_string(yaml.safe_dump(doc))
    assert message in capsys.readouterr().err


def test_yaml_example_in_the_docs_builds():
    block = re.search(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL).group(1)
    lists = yaml.safe_load(block)["data"]["init_args"]
    parser = ArgumentParser()
    parser.add_argument("--normalizations", type=list[BatchTransform])
    parser.add_argument("--augmentations", type=list[BatchTransform])
    built = parser.instantiate(parser.parse_object(lists))
    assert [type(t).__name__ for t in built.normalizations] == [
        "Normalize",
        "ScaleIntensityPercentiles",
    ]
    assert len(built.augmentations) == 5
    x = torch.rand(2, 2, 1, 16, 16) + 1.0
    meta = {0: {"fov_statistics": {"mean": torch.ones(2), "std": torch.ones(2)}}}
    out = BatchCompose([*built.normalizations, *built.augmentations])(x, norm_meta=meta)
    assert out.shape == x.shape and torch.isfinite(out).all()


class _AugmentedData(LightningDataModule):
    """Stands in for a datamodule with `normalizations` and `augmentations` arguments."""

    def __init__(
        self,
        normalizations: Sequence[BatchTransform] = (),
        augmentations: Sequence[BatchTransform] = (),
    ) -> None:
        super().__init__()
        self.normalizations = normalizations
        self.augmentations = augmentations


# lightning 2.6's CLI still calls jsonargparse APIs deprecated in jsonargparse 4.49
@pytest.mark.filterwarnings("ignore::DeprecationWarning:lightning.pytorch.cli")
def test_lightning_cli_builds_transforms_for_a_datamodule(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["fit"])
    config = {
        "trainer": {"logger": False, "enable_checkpointing": False},
        "data": {
            "normalizations": [
                {"class_path": "viscy_data.transforms.Normalize", "init_args": {"eps": 1e-6}}
            ],
            "augmentations": [
                {
                    "class_path": "viscy_data.transforms.RandomGaussianNoise",
                    "init_args": {"std_range": [0.0, 0.2], "channels": [1]},
                }
            ],
        },
    }
    path = tmp_path / "fit.yml"
    path.write_text(yaml.safe_dump(config))
    cli = LightningCLI(
        BoringModel,
        _AugmentedData,
        run=False,
        args=["--config", str(path)],
        save_config_callback=None,
        seed_everything_default=False,
    )
    (norm,) = cli.datamodule.normalizations
    (noise,) = cli.datamodule.augmentations
    assert isinstance(norm, Normalize) and norm.eps == 1e-6
    assert isinstance(noise, RandomGaussianNoise) and noise.channels == (1,)
    assert noise.std_range == (0.0, 0.2)


def test_compose_applies_in_order_and_passes_metadata_and_generator():
    x = torch.full((2, 2, 1, 6, 6), 10.0)
    meta = {
        c: {"fov_statistics": {"mean": torch.tensor([4.0, 6.0]), "std": torch.tensor([2.0, 2.0])}}
        for c in range(2)
    }
    chain = BatchCompose(
        [Normalize(), RandomIntensityScale(scale_range=(2.0, 2.0), prob=1.0), CenterCrop((2, 2))]
    )
    out = chain(x, norm_meta=meta, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 2, 1, 2, 2)
    assert torch.all(out[0] == 6.0) and torch.all(out[1] == 4.0)  # ((10 - m) / 2) * 2


def test_compose_is_reproducible_from_one_generator():
    x = torch.rand(4, 1, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    chain = BatchCompose([RandomAffine(prob=1.0), RandomGaussianNoise(prob=1.0)])
    a = chain(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, chain(x, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(a, chain(x, generator=torch.Generator().manual_seed(6)))


def test_empty_compose_copies_and_bad_member_raises():
    x = torch.rand(1, 1, 1, 2, 2)
    out = BatchCompose()(x)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
    with pytest.raises(TypeError, match=r"transforms\[1\] must be a BatchTransform, got Identity"):
        BatchCompose([CenterCrop((1, 1)), torch.nn.Identity()])

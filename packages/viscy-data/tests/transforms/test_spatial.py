"""RandomAffine (kornia warp) and CenterCrop."""

import pytest
import torch

from viscy_data.transforms import CenterCrop, RandomAffine


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _identity_affine(**kwargs) -> RandomAffine:
    ranges = {"rotation_degrees": (0.0, 0.0), "scale_range": (1.0, 1.0), "shear_degrees": (0, 0)}
    return RandomAffine(**{**ranges, **kwargs}, prob=1.0)


@pytest.mark.parametrize("padding_mode", ["reflection", "border", "zeros"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_identity_ranges_give_the_input_back(mode, padding_mode):
    x = torch.rand(3, 2, 4, 13, 17, generator=_gen())
    out = _identity_affine(mode=mode, padding_mode=padding_mode)(x, generator=_gen())
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_rotation_by_90_degrees_turns_clockwise():
    x = torch.rand(2, 1, 3, 9, 9, generator=_gen())
    out = _identity_affine(rotation_degrees=(90.0, 90.0))(x, generator=_gen())
    torch.testing.assert_close(out, torch.rot90(x, k=-1, dims=(3, 4)), atol=1e-5, rtol=0)


def test_scale_two_magnifies_about_the_centre():
    x = torch.zeros(1, 1, 1, 21, 21)
    x[..., 8:13, 8:13] = 1.0  # a 5x5 square at the centre
    out = _identity_affine(scale_range=(2.0, 2.0))(x, generator=_gen())[0, 0, 0]
    # output pixel r samples input row 10 + (r - 10) / 2: rows 6..14 land inside the square
    inside = torch.zeros(21, 21, dtype=torch.bool)
    inside[6:15, 6:15] = True
    assert torch.equal(out > 0.75, inside)
    torch.testing.assert_close(out, out.flip(0).flip(1))


def test_shear_only_moves_rows_sideways():
    x = torch.zeros(1, 1, 1, 11, 11)
    x[..., :, 5] = 1.0  # a vertical line through the centre
    t = _identity_affine(shear_degrees=(30.0, 30.0), mode="nearest", padding_mode="zeros")
    out = t(x, generator=_gen())[0, 0, 0]
    cols = out.argmax(1)
    assert cols[5] == 5  # the centre row stays
    assert not torch.equal(out, x[0, 0, 0])  # the line is no longer vertical
    assert cols[0] != cols[10]


def test_same_parameters_for_every_z_slice_and_channel():
    plane = torch.rand(4, 1, 1, 16, 16, generator=_gen())
    x = plane.expand(4, 3, 5, 16, 16)
    out = RandomAffine(shear_degrees=(-10.0, 10.0), prob=1.0)(x, generator=_gen())
    assert torch.equal(out, out[:, :1, :1].expand_as(out))
    assert not torch.allclose(out[0], out[1])


def test_matrices_come_from_the_cpu_generator():
    t = RandomAffine(prob=1.0)
    a = t.draw_matrices(5, 16, 16, _gen(3))
    assert a.device.type == "cpu" and a.shape == (5, 2, 3)
    assert torch.equal(a, t.draw_matrices(5, 16, 16, _gen(3)))


def test_center_crop_shape_and_content():
    x = torch.arange(2 * 3 * 2 * 10 * 9, dtype=torch.float32).view(2, 3, 2, 10, 9)
    out = CenterCrop((4, 4))(x)
    assert out.shape == (2, 3, 2, 4, 4)
    assert torch.equal(out, x[..., 3:7, 2:6])  # odd X margin (5): 2 left, 3 right
    out[...] = -1.0
    assert x.min() == 0.0  # output does not alias the input


def test_center_crop_same_size_copies_and_keeps_dtype():
    x = torch.rand(1, 1, 1, 4, 4).bfloat16()
    out = CenterCrop([4, 4])(x)
    assert torch.equal(out, x) and out.dtype == torch.bfloat16
    assert out.data_ptr() != x.data_ptr()


def test_center_crop_larger_than_batch_raises():
    with pytest.raises(ValueError, match=r"CenterCrop\(size=\(8, 8\)\).*got \(6, 10\)"):
        CenterCrop((8, 8))(torch.zeros(1, 1, 1, 6, 10))


@pytest.mark.parametrize("size", [(0, 4), (4,), (4.0, 4), "44", (4, 4, 4)])
def test_center_crop_bad_size_raises(size):
    with pytest.raises(ValueError, match="size must be a pair"):
        CenterCrop(size)

"""The training augmentation on real MNIST digits: each transform does what it says, and the batch stays a batch."""

import numpy as np
import pytest
import torch

from bican import augment
from bican.augment import Augmenter

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def batch(mnist_test) -> torch.Tensor:
    return torch.from_numpy(mnist_test.images[:256].copy())


@pytest.fixture(scope="module")
def x(batch) -> torch.Tensor:
    return batch[:64].unsqueeze(1).float() / 255.0


def _ink(x: torch.Tensor) -> torch.Tensor:
    return x.sum(dim=(1, 2, 3))


def _centre(x: torch.Tensor) -> torch.Tensor:
    """Each digit's centre of mass (column, row) in pixels."""
    grid = torch.arange(28, dtype=x.dtype)
    mass = _ink(x)
    return torch.stack([(x.sum(2).squeeze(1) * grid).sum(1) / mass, (x.sum(3).squeeze(1) * grid).sum(1) / mass], 1)


def test_a_batch_keeps_its_shape_and_dtype_and_only_the_fraction_changes(batch):
    out = Augmenter(0.5, seed=0, device=CPU)(batch, step=0)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    changed = (out != batch).flatten(1).any(1)
    assert changed[:128].float().mean() > 0.95 and not changed[128:].any()
    assert out[:128].float().mean() > 10  # still digits, not blank canvases


def test_fraction_zero_returns_the_batch_untouched(batch):
    assert Augmenter(0.0, seed=0, device=CPU)(batch, step=5) is batch


def test_the_same_seed_and_step_give_the_same_digits(batch):
    first = Augmenter(1.0, seed=3, device=CPU)(batch, step=7)
    assert torch.equal(first, Augmenter(1.0, seed=3, device=CPU)(batch, step=7))
    assert not torch.equal(first, Augmenter(1.0, seed=3, device=CPU)(batch, step=8))
    assert not torch.equal(first, Augmenter(1.0, seed=4, device=CPU)(batch, step=7))


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_small_batches_work(batch, size):
    assert Augmenter(1.0, seed=0, device=CPU)(batch[:size], step=0).shape == (size, 28, 28)


def test_thickness_dilates_erodes_and_zero_is_neutral(x):
    ones = torch.ones(len(x))
    assert torch.equal(augment.thickness(x, 0 * ones), x)
    assert (_ink(augment.thickness(x, ones)) > 1.3 * _ink(x)).all()
    assert (_ink(augment.thickness(x, -ones)) < 0.7 * _ink(x)).all()


def test_affine_identity_is_neutral_and_each_part_moves_the_digit(x):
    m = len(x)
    zero, one = torch.zeros(m), torch.ones(m)
    identity = augment.affine(zero, one, zero, torch.zeros(m, 2))
    assert torch.allclose(augment.warp(x, identity), x, atol=1e-5)
    shifted = augment.warp(x, augment.affine(zero, one, zero, torch.full((m, 2), 2.0)))
    moved = _centre(shifted) - _centre(x)  # by 2 px right and down, less where a digit's edge leaves the image
    assert torch.allclose(moved.median(0).values, torch.tensor([2.0, 2.0]), atol=0.1) and (moved > 1).all()
    bigger = augment.warp(x, augment.affine(zero, 1.2 * one, zero, torch.zeros(m, 2)))
    assert (_ink(bigger) > 1.3 * _ink(x)).all()  # area grows as the square of the scale
    for turned in (augment.affine(15 * one, one, zero, torch.zeros(m, 2)), augment.affine(zero, one, 0.3 * one,
                                                                                            torch.zeros(m, 2))):
        moved = augment.warp(x, turned)
        assert ((moved - x).abs().sum(dim=(1, 2, 3)) > 0.2 * _ink(x)).all()
        assert torch.allclose(_ink(moved), _ink(x), rtol=0.15)  # turned or slanted, not erased


def test_elastic_moves_pixels_by_at_most_its_amplitude_and_smoothly(x):
    m = len(x)
    field = augment.elastic(torch.randn(m, 2, augment.ELASTIC_GRID, augment.ELASTIC_GRID), torch.full((m,), 1.5))
    pixels = field * 14  # grid units to pixels
    assert field.shape == (m, 28, 28, 2) and torch.allclose(pixels.abs().amax(dim=(1, 2, 3)), torch.full((m,), 1.5))
    assert pixels.diff(dim=1).abs().max() < 0.5  # neighbours move alike: a wobble, not noise
    identity = augment.affine(torch.zeros(m), torch.ones(m), torch.zeros(m), torch.zeros(m, 2))
    assert not torch.allclose(augment.warp(x, identity, field), x, atol=0.05)
    assert torch.allclose(augment.warp(x, identity, 0 * field), x, atol=1e-5)


def test_blur_spreads_ink_and_zero_sigma_is_neutral(x):
    assert torch.equal(augment.blur(x, torch.zeros(len(x))), x)
    soft = augment.blur(x, torch.ones(len(x)))
    assert (soft.amax(dim=(1, 2, 3)) < x.amax(dim=(1, 2, 3))).all()
    assert torch.allclose(_ink(soft), _ink(x), rtol=0.02)  # spread, not lost


def test_low_resolution_loses_detail_but_keeps_the_digit(x):
    coarse = augment.low_resolution(x, 12)
    assert coarse.shape == x.shape and coarse.min() >= 0 and coarse.max() <= 1
    assert ((coarse - x).abs().sum(dim=(1, 2, 3)) > 0.1 * _ink(x)).all()
    assert (torch.cosine_similarity(coarse.flatten(1), x.flatten(1)) > 0.65).all()  # 0.71 at worst


def test_a_pool_of_renderings_supplies_a_third_of_the_varied_digits(batch, mnist_test):
    pool = torch.from_numpy(mnist_test.images[1000:1100].copy())
    out = Augmenter(0.75, seed=0, device=CPU, pool=pool)(batch, step=0)
    from_pool = out[:64]  # 192 varied digits, 64 of them drawn from the pool
    assert all(any(torch.equal(d, p) for p in pool) for d in from_pool)
    assert not any(torch.equal(out[100], p) for p in pool) and torch.equal(out[192:], batch[192:])


@pytest.mark.gpu
def test_augmentation_runs_on_the_gpu_deterministically(batch):
    cuda = torch.device("cuda")
    on_gpu = batch.to(cuda)
    out = Augmenter(0.5, seed=0, device=cuda)(on_gpu, step=1)
    assert out.device.type == "cuda" and out.dtype == torch.uint8 and out.shape == batch.shape
    assert torch.equal(out, Augmenter(0.5, seed=0, device=cuda)(on_gpu, step=1))
    assert torch.equal(out[128:], on_gpu[128:]) and (out[:128] != on_gpu[:128]).flatten(1).any(1).float().mean() > 0.95
    cpu = Augmenter(0.5, seed=0, device=CPU)(batch, step=1).float()
    # Another generator draws other parameters; the same transforms keep the varied digits as bright as on the CPU.
    assert np.isclose(out[:128].float().mean().item(), cpu[:128].mean().item(), rtol=0.2)

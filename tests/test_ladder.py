"""The shipped ladder never pays more bytes for less quality: on MNIST test digits and on drawn digits, each rung's
PSNR is at least that of the rung below it, each through its default encoder."""

import numpy as np
import pytest

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


@pytest.fixture(scope="module", params=["mnist", "drawn"])
def reconstructions(request, mnist_test) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A set's digits and each rung's reconstructions of them (of the first INVERTED, for an inverting rung)."""
    digits = mnist_test.images[:DIGITS] if request.param == "mnist" else drawn.load(DIGITS, seed=0)[0]
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

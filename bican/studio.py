"""The studio's computations, free of any UI: a drawing or digit in, every number the app shows out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import images
from .classifier import Classifier, classify
from .codec import Codec, check_digits
from .evaluate import psnr, round_trip, ssim

RAW_BYTES = 28 * 28


@dataclass(frozen=True)
class Analysis:
    """One digit through the codec, as the compress page shows it."""

    digit: np.ndarray  # uint8 [28, 28], the input
    symbols: np.ndarray  # int64 [L], the latent code
    stream: bytes  # the per-digit stream the coder wrote
    ideal_bits: float  # cross-entropy of the code under the prior
    recon: np.ndarray  # uint8 [28, 28], decoded from `stream`
    psnr_db: float
    ssim: float
    png_bytes: int  # the same input digit as an optimized PNG
    predicted: int  # classifier on the input
    predicted_recon: int  # classifier on the reconstruction
    recompresses: bool  # encoding the reconstruction gives the same stream

    @property
    def difference(self) -> np.ndarray:
        return np.abs(self.digit.astype(np.int16) - self.recon.astype(np.int16)).astype(np.uint8)

    @property
    def hex(self) -> str:
        return hex_text(self.stream)


def from_canvas(rgba: np.ndarray | None) -> np.ndarray | None:
    """The MNIST-style 28x28 digit of a canvas drawing, or None while the canvas holds no ink."""
    if rgba is None:
        return None
    digit = images.to_digit(rgba)
    return digit if digit.any() else None


def analyse(codec: Codec, digit: np.ndarray, classifier: Classifier) -> Analysis:
    """Encode one uint8 28x28 digit and measure everything the compress page shows about it."""
    digit = check_digits(digit)[0]
    trip = round_trip(codec, digit)
    [stream], [again], recon = trip.streams, trip.again, trip.recon[0]
    predicted, predicted_recon = classify(classifier, np.stack([digit, recon])).tolist()
    return Analysis(digit, trip.symbols[0], stream, float(trip.bits[0]), recon, psnr(digit, recon),
                    ssim(digit[None], recon[None]), png_size(digit), predicted, predicted_recon, again == stream)


def png_size(digit: np.ndarray) -> int:
    """Bytes of a digit as an optimized 8-bit grayscale PNG, the everyday lossless reference."""
    return len(images.png(digit, optimize=True))


def hex_text(data: bytes, per_line: int = 16) -> str:
    """Bytes as lowercase hex pairs, `per_line` to a line."""
    return "\n".join(data[i:i + per_line].hex(" ") for i in range(0, len(data), per_line))


def symbol_range(codec: Codec) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest symbol each latent can take: the prior's table, or a byte for the seed."""
    return codec.low.copy(), codec.high.copy()


def code_cost(codec: Codec, symbols: np.ndarray) -> tuple[float, int]:
    """Ideal bits and actual bytes of one code [L]."""
    symbols = np.asarray(symbols, np.int64)[None]
    return float(codec.ideal_bits(symbols)[0]), len(codec.encode_symbols(symbols)[0])


def interpolate(codec: Codec, start: np.ndarray, end: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The straight latent path from one digit's code to another's, rounded to symbols.

    Args:
        codec: the model whose latent space is walked.
        start, end: uint8 [28, 28] digits.
        steps: codes on the path, both ends included (at least 2).

    Returns:
        The symbols [steps, L] and their reconstructions, uint8 [steps, 28, 28].
    """
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, not {steps}")
    a, b = codec.symbols(np.stack([start, end])).astype(np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    path = np.rint((1 - t) * a + t * b).astype(np.int64)
    return path, codec.reconstruct(path)


def canvas_of(digit: np.ndarray, size: int = 280) -> np.ndarray:
    """A digit drawn back onto an RGBA canvas of `size` pixels, white ink on opaque black, as st_canvas returns it."""
    gray = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR))
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])

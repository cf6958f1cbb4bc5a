"""The studio's computations, free of any UI: a drawing or digit in, every number the app shows out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
from PIL import Image

from . import baselines, bitstream, images, weights
from .classifier import Classifier, probabilities
from .codec import Codec, check_digits, load_cached
from .evaluate import psnr, round_trip, ssim

RAW_BYTES = 28 * 28
UNSURE = 0.6  # below this top-class probability, the classifier is not sure the image is a digit at all
# The classical codecs at their smallest setting, each digit its own file: what a 28x28 costs without a learned model.
SMALLEST = (("JPEG", "JPEG", "quality 1", {"quality": 1}), ("WebP", "WEBP", "quality 0", {"quality": 0, "method": 6}))
MAX_CODE_BYTES = 256  # a shared code is one digit's stream: the seed's 200 bytes is the longest


@dataclass(frozen=True)
class Analysis:
    """One digit through the codec, as the compress page shows it."""

    digit: np.ndarray  # uint8 [28, 28], the input
    symbols: np.ndarray  # int64 [L], the latent code
    stream: bytes  # the per-digit stream the coder wrote
    ideal_bits: float  # cross-entropy of the code under the prior
    latent_bits: np.ndarray  # float [L]: each latent's share of the ideal bits
    recon: np.ndarray  # uint8 [28, 28], decoded from `stream`
    psnr_db: float
    ssim: float
    png_bytes: int  # the same input digit as an optimized PNG
    probabilities: np.ndarray  # float [2, 10]: the classifier's on the input, then on the reconstruction
    recompresses: bool  # encoding the reconstruction gives the same stream

    @property
    def predicted(self) -> int:
        return int(self.probabilities[0].argmax())

    @property
    def predicted_recon(self) -> int:
        return int(self.probabilities[1].argmax())

    @property
    def unsure(self) -> bool:
        """The classifier doubts the input is a digit."""
        return float(self.probabilities[0].max()) < UNSURE

    @property
    def difference(self) -> np.ndarray:
        return np.abs(self.digit.astype(np.int16) - self.recon.astype(np.int16)).astype(np.uint8)

    @property
    def hex(self) -> str:
        return hex_text(self.stream)


@dataclass(frozen=True)
class Rung:
    """One digit through one codec of the ladder: a shipped model, or a classical codec at its smallest setting."""

    name: str
    setting: str  # what the size is, in words
    size: int  # bytes of the digit's stream or file
    recon: np.ndarray  # uint8 [28, 28]
    psnr_db: float
    predicted: int
    agrees: bool  # the classifier reads the reconstruction as it reads the input
    learned: bool  # a shipped model, which the user can choose; not JPEG or WebP


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
    return Analysis(digit, trip.symbols[0], stream, float(trip.bits[0]), latent_bits(codec, trip.symbols)[0], recon,
                    psnr(digit, recon), ssim(digit[None], recon[None]), png_size(digit),
                    probabilities(classifier, np.stack([digit, recon])), again == stream)


def top(probs: np.ndarray, k: int = 3) -> list[tuple[int, float]]:
    """The k likeliest classes of one row of probabilities, likeliest first."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(c), float(probs[c])) for c in order]


def latent_bits(codec: Codec, symbols: np.ndarray) -> np.ndarray:
    """Each latent's ideal bits [N, L]: -log2 of its symbol's probability under the component that codes the row.

    The component's index is not a latent; its bits are the rest of `codec.ideal_bits`. The seed's fixed code spends
    8 bits on every latent.
    """
    symbols = np.asarray(symbols, np.int64)
    if codec.tables is None:
        return np.full(symbols.shape, 8.0)
    return codec.tables.latent_bits(symbols)[0]


def archive_overhead(codec: Codec, stream: bytes) -> int:
    """Bytes a one-digit .bican file adds to the stream: magic, format version, model fingerprint, count and CRC32."""
    return len(bitstream.pack(bytes.fromhex(codec.fingerprint), 1, stream)) - len(stream)


def is_shipped(name: str) -> bool:
    path = weights.available().get(name)
    return path is not None and path.parent == weights.SHIPPED


def model_words(name: str) -> str:
    """A model's name with its size in words, and whose it is."""
    if not is_shipped(name):
        return f"{name} (yours, promoted from a run)"
    if name == "seed":
        return "seed (200 bytes per digit, the original fixed 8-bit code)"
    size = re.fullmatch(r"entropy-0*(\d+)b", name)
    return f"{name} (about {size[1]} bytes per digit)" if size else name


def ladder_names(slow: bool) -> list[str]:
    """The shipped models from fewest to most bytes; those with an inverting encoder only when `slow`.

    Inverting encoders descend on the decoder's input for each digit: about a second a digit on one core
    (docs/experiments/2026-12-02-ladder-latency.md), where the others take 10 to 20 ms. A stroke must answer at once,
    so those wait to be asked.
    """
    names = [n for n in weights.available() if is_shipped(n) and (slow or not load_cached(n).invert)]
    return sorted(names, key=lambda n: (n == "seed", n))


def _rung(name: str, setting: str, size: int, digit: np.ndarray, recon: np.ndarray) -> dict:
    return {"name": name, "setting": setting, "size": size, "recon": recon, "psnr_db": psnr(digit, recon)}


def _coded(codec: Codec, digit: np.ndarray) -> dict:
    """One model's rung. The reconstruction comes from the symbols: the stream decodes to exactly these (the coder
    is lossless, and its tests hold it to that), so decoding it again would only cost time on every stroke."""
    symbols = codec.symbols(digit)
    size = len(codec.encode_symbols(symbols)[0])
    return _rung(codec.name, model_words(codec.name), size, digit, codec.reconstruct(symbols)[0])


def _classical(digit: np.ndarray) -> list[dict]:
    """JPEG and WebP at their smallest setting, each the digit as its own file (headers and all)."""
    out = []
    for name, fmt, setting, options in SMALLEST:
        [size], decoded = baselines.per_image(digit[None], fmt, **options)
        out.append(_rung(name, setting, size, digit, decoded[0]))
    return out


def ladder(digit: np.ndarray, classifier: Classifier, slow: bool = False, done: Analysis | None = None,
           model: str | None = None) -> list[Rung]:
    """The digit by every shipped rung, fewest bytes first, then JPEG and WebP at their smallest.

    Args:
        digit: uint8 [28, 28].
        classifier: reads the class of every rung's reconstruction, all in one call.
        slow: include the rungs with an inverting encoder (see ladder_names).
        done: the analysis of this digit by the model named `model`, reused as that model's rung.
        model: the name of the model `done` belongs to.
    """
    learned = [_rung(name, model_words(name), len(done.stream), digit, done.recon)
               if done is not None and name == model else _coded(load_cached(name), digit) for name in ladder_names(slow)]
    rungs = learned + _classical(digit)
    [reads, *classes] = probabilities(classifier, np.stack([digit] + [r["recon"] for r in rungs])).argmax(axis=1)
    return [Rung(**r, predicted=int(c), agrees=bool(c == reads), learned=i < len(learned))
            for i, (r, c) in enumerate(zip(rungs, classes))]


def keeper(rungs: list[Rung]) -> Rung | None:
    """The model of the ladder that keeps the digit's class (as the classifier reads it) in the fewest bytes, if any."""
    return min((r for r in rungs if r.learned and r.agrees), key=lambda r: r.size, default=None)


def share_query(codec: Codec, stream: bytes) -> str:
    """The URL query that carries a digit: its model's name and its stream as hex."""
    return "?" + urlencode({"model": codec.name, "code": stream.hex()})  # a promoted model's name may need quoting


def from_code(codec: Codec, code: str) -> np.ndarray:
    """The digit a shared code decodes to, uint8 [28, 28]; ValueError for anything this model did not write."""
    try:
        stream = bytes.fromhex(code)
    except ValueError:
        raise ValueError(f"the code {code[:40]!r} is not hex (pairs of 0-9, a-f)") from None
    if not stream or len(stream) > MAX_CODE_BYTES:
        raise ValueError(f"a shared code holds 1 to {MAX_CODE_BYTES} bytes, not {len(stream)}")
    try:
        return codec.decode([stream])[0]
    except bitstream.BitstreamError as exc:
        raise ValueError(f"the code is not a digit written by {codec.name}: {exc}") from None


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

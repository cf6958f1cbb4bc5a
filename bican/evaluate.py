"""Honest codec metrics: actual and ideal bytes, PSNR and SSIM at 28x28, idempotence, classifier accuracy and
agreement, on MNIST's test set, the drawn set or a person's own digits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import data, drawn
from .classifier import Classifier, classify
from .codec import Codec, check_digits
from .images import read_digits, read_folder, read_npy

SETS = ("mnist", "drawn")  # MNIST's 10,000 test digits; 2,000 of them redrawn as the canvas draws (bican.drawn)
CLASSES = tuple("0123456789")  # the subfolder names that label a folder of digits


def digit_set(name: str, limit: int | None = None, labels: Path | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The digits and labels a model is measured on, the first `limit`: MNIST's test set, `bican.drawn`'s set, or
    a file or folder of a person's own digits (see `_file_set`) with the classes in `labels`, if given."""
    if name in SETS and labels is not None:
        raise ValueError(f"labels go with a file of digits: the {name} set has its own")
    if name == "drawn":
        return drawn.load(min(limit or drawn.SIZE, drawn.SIZE))  # its first k digits are the set of size k
    if name == "mnist":
        test = data.load("test")
        return test.images[:limit], test.labels[:limit]
    if not Path(name).exists():
        raise ValueError(f"the digit set is {', '.join(SETS)}, a file of digits (.npy, .png or idx) or a folder of "
                         f"PNGs, not {name!r}")
    return _file_set(Path(name), limit, labels)


def _file_set(digits: Path, limit: int | None, labels: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A person's own digits, read as `compress` reads them (.npy, PNG, idx or a folder of PNGs), and their classes
    from `labels` (a .npy or idx file of one class 0-9 per digit), else from the folder's subfolders named 0 to 9,
    else None; the first `limit`."""
    images, files = read_folder(digits) if digits.is_dir() else (read_digits(digits), [])
    if labels is None:
        classes = _folder_classes(digits, files) if files else None
        return images[:limit], None if classes is None else classes[:limit]
    classes = read_npy(labels) if labels.suffix == ".npy" else data.read_idx(labels)
    if classes.shape != (len(images),) or classes.dtype.kind not in "iu":
        raise ValueError(f"{labels}: expected one integer class for each of the {len(images)} digits, "
                         f"got {classes.dtype} {list(classes.shape)}")
    if classes.min() < 0 or classes.max() > 9:
        raise ValueError(f"{labels}: classes must be 0 to 9, not {classes.min()} to {classes.max()}")
    return images[:limit], np.array(classes[:limit], np.int64)


def _folder_classes(folder: Path, files: list[Path]) -> np.ndarray | None:
    """Each file's class where the folder sorts every one into a subfolder named for its class, 0 to 9 (the layout
    torchvision's ImageFolder reads); None where any lies elsewhere."""
    parts = [path.relative_to(folder).parts for path in files]
    if not all(len(p) > 1 and p[0] in CLASSES for p in parts):
        return None
    return np.array([int(p[0]) for p in parts], np.int64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of uint8 images, from the MSE pooled over every pixel of the set."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def psnr_each(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(1)
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-12))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM with a 7x7 Gaussian window (sigma 1.5), the usual choice for 28x28 digits."""
    x, y = (torch.from_numpy(np.asarray(v, np.float64)).unsqueeze(1) / 255.0 for v in (a, b))
    g = torch.exp(-((torch.arange(7, dtype=torch.float64) - 3) ** 2) / (2 * 1.5**2))
    w = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    mu_x, mu_y = F.conv2d(x, w), F.conv2d(y, w)
    var_x = F.conv2d(x * x, w) - mu_x**2
    var_y = F.conv2d(y * y, w) - mu_y**2
    cov = F.conv2d(x * y, w) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(s.mean())


@dataclass(frozen=True)
class RoundTrip:
    """Digits through the real byte streams and back, and the reconstructions compressed once more."""

    symbols: np.ndarray  # int64 [N, L]
    streams: list[bytes]
    bits: np.ndarray  # ideal information content of each code
    recon: np.ndarray  # uint8 [N, 28, 28], decoded from the streams
    again: list[bytes]  # the reconstructions' streams: equal to `streams` where the codec is idempotent


def round_trip(codec: Codec, digits: np.ndarray) -> RoundTrip:
    symbols = codec.symbols(check_digits(digits))
    streams = codec.encode_symbols(symbols)
    # Decode from the bytes, as a receiver would, rather than trusting the encoder's own reconstruction.
    recon = codec.decode(streams)
    again, _ = codec.encode(recon)
    return RoundTrip(symbols, streams, codec.ideal_bits(symbols), recon, again)


def evaluate(codec: Codec, digits: np.ndarray, labels: np.ndarray | None = None,
             classifier: Classifier | None = None, trip: RoundTrip | None = None) -> dict[str, float]:
    """Every metric of a codec on a set of digits, through the real byte streams.

    Args:
        codec: the model to measure.
        digits: uint8 [N, 28, 28].
        labels: true classes (for a drawing, the class it was drawn as), needed for classifier_accuracy.
        classifier: scores reconstructions: its agreement with itself on the input, and with labels if given.
        trip: the digits' round trip, if the caller already has it.
    """
    digits = check_digits(digits)
    trip = trip or round_trip(codec, digits)
    result = {
        "n": len(digits),
        "bytes_per_digit": float(np.mean([len(s) for s in trip.streams])),
        "ideal_bytes_per_digit": float(np.mean(trip.bits) / 8),
        "psnr_db": psnr(digits, trip.recon),
        "ssim": ssim(digits, trip.recon),
        "idempotent_fraction": float(np.mean([s == t for s, t in zip(trip.streams, trip.again)])),
    }
    if classifier is not None:
        read = classify(classifier, trip.recon)
        if labels is not None:
            result["classifier_accuracy"] = float(np.mean(read == labels))
        # The digit's identity survived, whether or not the classifier reads the input right.
        result["agreement"] = float(np.mean(read == classify(classifier, digits)))
    return result

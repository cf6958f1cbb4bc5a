"""Images in and out: MNIST-style centring of any drawing, PNG and idx input, PNG grids."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import data

MAX_PIXELS = 4096 * 4096  # a small upload can still decompress into gigabytes; refuse before decoding


def to_digit(image: np.ndarray) -> np.ndarray:
    """Make a uint8 28x28 MNIST-style digit from a grayscale, RGB or RGBA image of any size.

    The way MNIST was made: crop to the ink's bounding box, fit it into 20x20 keeping the aspect
    ratio, then place it in 28x28 so that its centre of mass is at the centre. Dark ink on a light
    background is inverted first. A blank image gives a blank digit.
    """
    gray = _grayscale(np.asarray(image))
    if gray.mean() > 127:
        gray = 255 - gray
    ys, xs = np.nonzero(gray > 10)
    if len(ys) == 0:
        return np.zeros((28, 28), np.uint8)
    crop = gray[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = 20.0 / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = np.asarray(Image.fromarray(crop).resize((w, h), Image.Resampling.LANCZOS), np.float64)
    total = small.sum()
    cy, cx = ((np.indices(small.shape) * small).reshape(2, -1).sum(1) / total) if total else (h / 2, w / 2)
    top, left = int(np.clip(round(14 - cy), 0, 28 - h)), int(np.clip(round(14 - cx), 0, 28 - w))
    out = np.zeros((28, 28), np.float64)
    out[top:top + h, left:left + w] = small
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _grayscale(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[..., :3].astype(np.float64)
        if image.shape[2] == 4:
            alpha = image[..., 3:4].astype(np.float64) / 255.0
            rgb = rgb * alpha  # transparent pixels count as black background
        image = rgb @ np.array([0.299, 0.587, 0.114])
    if image.ndim != 2 or min(image.shape) < 1:
        raise ValueError(f"expected a grayscale, RGB or RGBA image, got shape {list(image.shape)}")
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image), 0, 255)
    return image.astype(np.uint8)


def read_digits(path: Path) -> np.ndarray:
    """uint8 [N, 28, 28] from a .npy, a PNG (centred MNIST-style unless already 28x28) or an idx file."""
    path = Path(path)
    if path.suffix == ".npy":
        try:  # mapped: a header claiming terabytes costs nothing, and one longer than the file is refused
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{path}: not a readable .npy file ({exc})") from None
        if array.dtype != np.uint8 or array.shape[-2:] != (28, 28) or array.ndim not in (2, 3):
            raise ValueError(f"{path}: expected uint8 [N, 28, 28] or [28, 28], got {array.dtype} {list(array.shape)}")
        return np.array(array.reshape(-1, 28, 28))
    if path.suffix.lower() == ".png":
        try:
            return png_digit(path.read_bytes())[None]
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    array = data.read_idx(path)
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"{path}: expected an idx file of 28x28 images, got shape {list(array.shape)}")
    return array


def png_digit(content: bytes) -> np.ndarray:
    """uint8 28x28 from PNG bytes: an MNIST-style 28x28 grayscale is kept as is, anything else is centred MNIST-style."""
    try:
        with Image.open(io.BytesIO(content)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ValueError(f"{img.width}x{img.height} is too large for a digit")
            array = np.array(img.convert("RGBA" if "A" in img.mode else "L"))  # writable, for torch
    except UnidentifiedImageError:
        raise ValueError("not a readable PNG (not an image file at all)") from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:  # PIL's SyntaxError:
        raise ValueError(f"not a readable PNG ({exc})") from exc  # a broken chunk, found by tools/fuzz.py
    plain = array.ndim == 2 and array.shape == (28, 28) and array.mean() <= 127
    return array if plain else to_digit(array)


def grid(digits: np.ndarray, columns: int = 10) -> np.ndarray:
    """Tile uint8 [N, 28, 28] digits into one image, `columns` wide."""
    n = len(digits)
    rows = -(-n // columns)
    canvas = np.zeros((rows * 28, min(n, columns) * 28), np.uint8)
    for i, d in enumerate(digits):
        canvas[(i // columns) * 28:(i // columns + 1) * 28, (i % columns) * 28:(i % columns + 1) * 28] = d
    return canvas


def encode(image: np.ndarray, fmt: str, **options) -> bytes:
    """A uint8 grayscale array as the bytes of a file in Pillow format `fmt`, with Pillow's save options."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(image: np.ndarray, optimize: bool = False) -> bytes:
    """8-bit PNG bytes; `optimize` trades encoding time for the smallest file."""
    return encode(image, "PNG", optimize=optimize)


def write_digits(path: Path, digits: np.ndarray) -> None:
    path = Path(path)
    if path.suffix == ".npy":
        np.save(path, digits)
    elif path.suffix.lower() == ".png":
        Image.fromarray(grid(digits) if len(digits) > 1 else digits[0]).save(path)
    else:
        raise ValueError(f"{path}: the output must end in .npy or .png")

"""Images in and out: MNIST-style centring of any drawing, photos of paper made ink-only, PNG and idx input, grids."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError

from . import data

MAX_PIXELS = 4096 * 4096  # a small upload can still decompress into gigabytes; refuse before decoding
WORK_SIDE = 512  # uploads are reduced to this many pixels a side first: a digit fits in 20x20 in the end
BACKGROUND_SIDE = 64  # the background is estimated on a copy this small, where a stroke is a few pixels wide
BACKGROUND_MEDIAN = 15  # that estimate's median window, in small pixels: wider than two thick strokes side by side
INK_FLOOR = 40  # ink weaker than this on average (of 255, relative to its paper) is paper grain


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
    """uint8 [N, 28, 28], at least one digit, from a .npy, a PNG (centred MNIST-style unless already 28x28), an idx
    file or a folder of PNGs (see `read_folder`)."""
    path = Path(path)
    return read_folder(path)[0] if path.is_dir() else _some(path, _read_file(path))


def read_folder(folder: Path) -> tuple[np.ndarray, list[Path]]:
    """Every PNG under a folder, its subfolders included, in path order, as digits (at least one), and the files they
    came from; other files are not digits."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() == ".png" and p.is_file())
    return _some(folder, np.array([_read_file(p)[0] for p in files], np.uint8).reshape(-1, 28, 28)), files


def _some(path: Path, digits: np.ndarray) -> np.ndarray:
    if not len(digits):
        raise ValueError(f"{path} holds no digits")
    return digits


def _read_file(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        array = read_npy(path)
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


def read_npy(path: Path) -> np.ndarray:
    """A .npy file's array, memory-mapped: a header claiming terabytes costs nothing, one longer than the file is
    refused, and nothing is unpickled."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not a readable .npy file ({exc})") from None


def png_digit(content: bytes) -> np.ndarray:
    """uint8 28x28 from PNG bytes: an MNIST-style 28x28 grayscale is kept as is; anything else, a drawing, a scan or
    a photo of paper, is normalised (see `paper_ink`) and centred MNIST-style."""
    gray = _decoded(content)
    if gray.shape == (28, 28) and gray.mean() <= 127:
        return gray
    return to_digit(paper_ink(gray))


def _decoded(content: bytes) -> np.ndarray:
    """The PNG as uint8 grayscale, at most WORK_SIDE pixels a side, transparency as black background.

    Every step is Pillow's uint8 work, and the full-size image is decoded once and reduced before any other copy: a
    4096x4096 RGBA upload (64 MB decoded) costs about one decoded frame (measured in docs/BENCHMARKS.md).
    """
    try:
        with Image.open(io.BytesIO(content)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ValueError(f"{img.width}x{img.height} is too large for a digit")
            img.load()
            if img.mode not in ("L", "RGB", "RGBA"):  # palette, 16-bit, 1-bit: one conversion, in the largest size
                img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "L")
    except UnidentifiedImageError:
        raise ValueError("not a readable PNG (not an image file at all)") from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:  # PIL's SyntaxError:
        raise ValueError(f"not a readable PNG ({exc})") from exc  # a broken chunk, found by tools/fuzz.py
    factor = -(-max(img.size) // WORK_SIDE)
    if factor > 1:
        img = img.reduce(factor)  # box averaging, in uint8
    if img.mode == "RGBA":
        img = Image.alpha_composite(Image.new("RGBA", img.size, (0, 0, 0, 255)), img)
    return np.array(img.convert("L"))  # writable, for torch


def paper_ink(gray: np.ndarray) -> np.ndarray:
    """The ink of a digit photographed or scanned on paper, as bright strokes on a black background.

    Uneven light and grey paper defeat a global threshold (the whole page is "ink" after inversion). So: estimate the
    background with a median far wider than a stroke, divide it out (light falls on paper and ink alike), pick the
    ink's side (the rarer, stronger deviation: dark ink on paper or light strokes on black), clear sensor noise with a
    3x3 median, and keep only what lies above Otsu's threshold of what remains, stretched to full strength.
    """
    gray = np.asarray(gray, np.uint8)
    background = _background(gray).astype(np.int32)
    signed = gray.astype(np.int32) - background
    dark = -np.percentile(signed, 0.1) > np.percentile(signed, 99.9)
    # Dark ink is measured relative to its paper: the same pen gives the same ink under bright and dim light.
    ink = (-signed * 255) // np.maximum(background, 16) if dark else signed
    ink = np.asarray(Image.fromarray(np.clip(ink, 0, 255).astype(np.uint8)).filter(ImageFilter.MedianFilter(3)))
    threshold = _otsu(ink)
    strong = ink[ink > threshold]
    if not len(strong) or strong.mean() < INK_FLOOR:  # what stands out is only paper grain: a blank page
        return np.zeros_like(ink)
    top = max(int(np.percentile(strong, 90)), threshold + 1)
    kept = np.where(ink > threshold, ink, 0).astype(np.int32)
    return np.clip(kept * 255 // top, 0, 255).astype(np.uint8)


def _background(gray: np.ndarray) -> np.ndarray:
    """The paper without its strokes: a median over a quarter of the image, computed small and scaled back up."""
    h, w = gray.shape
    scale = BACKGROUND_SIDE / max(h, w)
    small = Image.fromarray(gray).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    smooth = small.filter(ImageFilter.MedianFilter(BACKGROUND_MEDIAN))
    return np.asarray(smooth.resize((w, h), Image.Resampling.BILINEAR))


def _otsu(values: np.ndarray) -> int:
    """The threshold that best splits uint8 values into two classes (Otsu, 1979)."""
    counts = np.bincount(values.ravel(), minlength=256).astype(np.float64)  # 256 bins, not the image
    levels = np.arange(256)
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * levels)
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight - total * mass) ** 2 / (weight * (total - weight))
    return int(np.nanargmax(between[:-1]))


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

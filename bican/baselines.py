"""Classical reference points on the same digits: JPEG, WebP and PNG per image, gzip and xz over the set."""

from __future__ import annotations

import gzip
import io
import lzma

import numpy as np
from PIL import Image

from . import images
from .evaluate import psnr

JPEG_QUALITIES = (5, 10, 20, 30, 50, 75, 90)
WEBP_QUALITIES = (0, 5, 10, 25, 50, 75, 90)


def _row(codec: str, setting: str, bytes_per_digit: float, psnr_db: float | None) -> dict:
    return {"codec": codec, "setting": setting, "bytes_per_digit": float(bytes_per_digit), "psnr_db": psnr_db}


def per_image(digits: np.ndarray, fmt: str, **options) -> tuple[list[int], np.ndarray]:
    """Each digit as its own file, headers included, as a file per digit would carry them."""
    sizes, decoded = [], np.empty_like(digits)
    for i, digit in enumerate(digits):
        blob = images.encode(digit, fmt, **options)
        sizes.append(len(blob))
        with Image.open(io.BytesIO(blob)) as img:
            decoded[i] = np.asarray(img.convert("L"))
    return sizes, decoded


def reference_points(digits: np.ndarray, progress=None) -> list[dict]:
    """Rate–distortion rows for every classical codec, measured now on these digits."""
    rows, jobs = [], [("JPEG", "JPEG", q, {"quality": q}) for q in JPEG_QUALITIES]
    jobs += [("WebP", "WEBP", q, {"quality": q, "method": 6}) for q in WEBP_QUALITIES]
    for i, (name, fmt, q, options) in enumerate(jobs):
        if progress:
            progress(f"{name} quality {q}", i / (len(jobs) + 1))
        sizes, decoded = per_image(digits, fmt, **options)
        rows.append(_row(name, f"quality {q}", np.mean(sizes), psnr(digits, decoded)))
    sizes, decoded = per_image(digits, "PNG", optimize=True)
    if not np.array_equal(decoded, digits):
        raise RuntimeError("PNG did not round-trip losslessly; Pillow is broken")
    rows.append(_row("PNG", "lossless", np.mean(sizes), None))
    raw = np.ascontiguousarray(digits).tobytes()
    rows.append(_row("gzip", "level 9, whole set", len(gzip.compress(raw, 9)) / len(digits), None))
    rows.append(_row("xz", "preset 9e, whole set", len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)) / len(digits), None))
    return rows


def file_sizes(name: str, array: np.ndarray) -> list[dict]:
    """The seed's table: one array stored as .txt, .npy, .txt.gz and .npy.gz."""
    text, npy = io.BytesIO(), io.BytesIO()
    np.savetxt(text, array.reshape(len(array), -1), fmt="%d")
    np.save(npy, array)
    out = []
    for fmt, blob in ((".txt", text.getvalue()), (".npy", npy.getvalue())):
        out.append({"representation": name, "format": fmt, "bytes": len(blob)})
        out.append({"representation": name, "format": fmt + ".gz", "bytes": len(gzip.compress(blob, 9))})
    return out

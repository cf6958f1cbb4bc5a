"""Digits drawn the way the studio's canvas draws them: an evaluation set that is not MNIST's own pixels.

The canvas is a 280x280 black square and a round white brush (20 px by default; people's strokes look 10 to 30 px
wide); its RGBA image is centred MNIST-style by `images.to_digit`. `render` redraws MNIST digits that way: each
digit's ink is thinned to a one-pixel skeleton (Zhang–Suen), the skeleton's path is bent by a slow random wobble (a
hand moving at varying speed), mapped onto the canvas by a random affine map (letter height, position, aspect,
slant, rotation) and painted with an anti-aliased round brush of random width. Everything runs on whole batches.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import data, images

CANVAS = 280  # the studio's canvas, in pixels a side
BRUSH = (10.0, 30.0)  # stroke widths people draw with, in canvas pixels
HEIGHT = (110.0, 250.0)  # letter heights on the canvas, in pixels
ASPECT = (0.8, 1.2)  # width stretch
SHEAR = (-0.35, 0.35)  # slant: horizontal shift per unit of height
ROTATION = (-12.0, 12.0)  # degrees
WOBBLE = 0.7  # the largest drift of the path, in MNIST pixels: visible, never enough to make another digit
WAVES = 3  # sine waves summed into each digit's wobble
UPSAMPLE = 3  # the skeleton is found on digits this many times larger: smoother paths, strokes still a few pixels
CELL = 2  # canvas pixels per side of the grid the brush is painted on; to_digit shrinks a drawing about 7 times
CHUNK = 200  # digits painted at once: bounds memory near 100 MB
_PARAMS = 8 + 4 * WAVES  # uniform numbers drawn per digit, in one row: a digit's drawing ignores the batch around it


def render(digits: np.ndarray, seed: int) -> np.ndarray:
    """The same digits drawn on the canvas with a brush and centred as the studio centres a drawing.

    Args:
        digits: uint8 [N, 28, 28], MNIST-style.
        seed: fixes every random choice; digit i's drawing depends only on the seed, i and the digit itself.

    Returns:
        uint8 [N, 28, 28].
    """
    digits = np.asarray(digits)
    if digits.dtype != np.uint8 or digits.ndim != 3 or digits.shape[1:] != (28, 28):
        raise ValueError(f"expected uint8 [N, 28, 28] digits, got {digits.dtype} {list(digits.shape)}")
    params = np.random.default_rng(seed).random((len(digits), _PARAMS))
    out = np.zeros_like(digits)
    for start in range(0, len(digits), CHUNK):
        part = slice(start, start + CHUNK)
        for i, cover in enumerate(_paint(digits[part], params[part])):
            canvas = np.asarray(Image.fromarray(cover).resize((CANVAS, CANVAS), Image.Resampling.BILINEAR))
            rgba = np.dstack([canvas, canvas, canvas, np.full_like(canvas, 255)])  # what st_canvas returns
            out[start + i] = images.to_digit(rgba)
    return out


def load(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The drawn evaluation set: `n` MNIST test digits redrawn by `render`, classes in turn, and their labels.

    The first k digits of a set are the set of size k. Regenerated in seconds, kept in memory once made.

    Args:
        n: digits, at most 8,920 (ten times the rarest class's count in the test split).
        seed: which test digits are taken and how they are drawn.

    Returns:
        uint8 [n, 28, 28] drawings and int64 [n] labels (the class each was drawn as).
    """
    drawn, labels = _load(n, seed)
    return drawn.copy(), labels.copy()


@lru_cache(maxsize=2)
def _load(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    test = data.load("test")
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(test.labels == c)) for c in range(10)]
    rounds = min(len(p) for p in per_class)
    if not 0 < n <= 10 * rounds:
        raise ValueError(f"the drawn set has 1 to {10 * rounds} digits, not {n}")
    order = np.stack([p[:rounds] for p in per_class], axis=1).reshape(-1)[:n]  # 0, 1, ..., 9, 0, 1, ...
    return render(test.images[order], seed), test.labels[order]


def skeleton(ink: np.ndarray) -> np.ndarray:
    """Zhang–Suen thinning of bool [N, H, W] shapes to one-pixel-wide paths, the whole batch at once."""
    ink = ink.copy()
    active = np.arange(len(ink))  # the images that changed in the last pass: most are thin after a few
    while len(active):
        part = ink[active]
        changed = np.zeros(len(active), bool)
        for removable in _ZHANG_SUEN:
            remove = part & removable[_neighbours(part)]
            changed |= remove.any(axis=(1, 2))
            part &= ~remove
        ink[active] = part
        active = active[changed]
    return ink


def _neighbours(ink: np.ndarray) -> np.ndarray:
    """Each pixel's 8 neighbours as the bits of one uint8, bit i the i-th clockwise from north."""
    p = np.pad(ink, ((0, 0), (1, 1), (1, 1))).view(np.uint8)
    h, w = ink.shape[1:]
    code = np.zeros(ink.shape, np.uint8)
    for bit, (dy, dx) in enumerate(((0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0))):
        code |= p[:, dy:dy + h, dx:dx + w] << bit
    return code


def _zhang_suen_tables() -> tuple[np.ndarray, np.ndarray]:
    """For both sub-steps, which of the 256 neighbourhoods let a pixel go (Zhang and Suen, 1984)."""
    tables = []
    for step in (0, 1):
        table = np.zeros(256, bool)
        for code in range(256):
            n = [(code >> i) & 1 for i in range(8)]  # P2 ... P9: clockwise from north
            transitions = sum(n[i] == 0 and n[(i + 1) % 8] == 1 for i in range(8))
            # Step 0 peels south-east boundaries and north-west corners; step 1 the opposite.
            a, b, c, d = (n[2], n[4], n[0], n[6]) if step == 0 else (n[6], n[0], n[4], n[2])
            table[code] = 2 <= sum(n) <= 6 and transitions == 1 and not (a and b and (c or d))
        tables.append(table)
    return tables[0], tables[1]


_ZHANG_SUEN = _zhang_suen_tables()


def _paint(digits: np.ndarray, params: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] digits painted as uint8 [N, CANVAS // CELL, same] ink cover, by their rows of `params`.

    The path's points are few (some hundred a digit): numpy, one thread, where torch's thread pool would spend more
    time waking its threads than working on a machine busy with other jobs.
    """
    big = F.interpolate(torch.from_numpy(digits)[:, None].float(), scale_factor=UPSAMPLE, mode="bilinear",
                        align_corners=False)[:, 0].numpy()
    skel = skeleton(big > 127.5)
    which, y, x = np.nonzero(skel)
    u = params[which].T.copy()  # each skeleton pixel's digit's parameters, a row per parameter
    y, x = _wobble((y + 0.5) / UPSAMPLE, (x + 0.5) / UPSAMPLE, u)  # in MNIST pixels
    y, x = _place(which, *_affine(y, x, u), u, len(digits))
    which, y, x = _stroke(skel, which, y, x)
    side = CANVAS // CELL
    marks = np.zeros((len(digits), side, side), bool)
    marks[which, np.clip(y // CELL, 0, side - 1).astype(int), np.clip(x // CELL, 0, side - 1).astype(int)] = True
    radius = (_lerp(BRUSH, params[:, 1]) / 2 / CELL).astype(np.float32)
    # The anti-aliased round brush: full ink within its radius of the path, fading over one cell at its edge.
    cover = radius[:, None, None] + 0.5 - _distance(marks, math.ceil(BRUSH[1] / 2 / CELL + 0.5))
    return np.rint(np.clip(cover, 0, 1) * 255).astype(np.uint8)


# Spacing between a skeleton's neighbouring pixels on the canvas, at most: the tallest letter's scale, diagonally.
_GAP = HEIGHT[1] / 20 / UPSAMPLE * math.sqrt(2) / CELL  # in brush cells
_STEPS = math.ceil(_GAP / 0.75)  # points per link, so that consecutive points fall in touching cells


def _stroke(skel: np.ndarray, which: np.ndarray, y: np.ndarray, x: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along every link between neighbouring skeleton pixels, placed on the canvas at (y, x), dense enough
    to paint one unbroken stroke: (digit, y, x) for each point."""
    index = np.full(skel.shape, -1)
    index[skel] = np.arange(len(which))  # nonzero's order: pixel i is (which[i], row[i], col[i])
    index = np.pad(index, ((0, 0), (0, 1), (1, 1)), constant_values=-1)
    _, row, col = np.nonzero(skel)
    t = np.arange(1, _STEPS) / _STEPS
    points = [(which, y, x)]
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each link once: to the east, south, south-east, south-west
        other = index[which, row + dy, col + dx + 1]
        a, b = np.flatnonzero(other >= 0), other[other >= 0]
        points.append((np.repeat(which[a], len(t)), (y[a, None] + (y[b] - y[a])[:, None] * t).ravel(),
                       (x[a, None] + (x[b] - x[a])[:, None] * t).ravel()))
    return tuple(np.concatenate(column) for column in zip(*points))


def _wobble(y: np.ndarray, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The path bent by a few slow sine waves across the digit, as a hand drifts while drawing it."""
    amplitude = WOBBLE * u[7] / math.sqrt(WAVES)
    dy, dx = np.zeros_like(y), np.zeros_like(x)
    for k in range(WAVES):
        angle, wavelength, phase_y, phase_x = u[8 + 4 * k:12 + 4 * k]
        angle, phase_y, phase_x = 2 * np.pi * angle, 2 * np.pi * phase_y, 2 * np.pi * phase_x
        along = 2 * np.pi * (np.cos(angle) * x + np.sin(angle) * y) / _lerp((6.0, 18.0), wavelength)  # MNIST pixels
        dy += amplitude * np.sin(along + phase_y)
        dx += amplitude * np.sin(along + phase_x)
    return y + dy, x + dx


def _affine(y: np.ndarray, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MNIST pixels to canvas pixels around the digit's frame centre: aspect, slant, rotation, letter height."""
    y, x = y - 14, x - 14
    x = _lerp(ASPECT, u[2]) * x + _lerp(SHEAR, u[3]) * y
    turn = np.deg2rad(_lerp(ROTATION, u[4]))
    scale = _lerp(HEIGHT, u[0]) / 20  # MNIST's digits are 20 pixels tall
    return scale * (np.sin(turn) * x + np.cos(turn) * y), scale * (np.cos(turn) * x - np.sin(turn) * y)


def _place(which: np.ndarray, y: np.ndarray, x: np.ndarray, u: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each drawing moved to its place on the canvas, shrunk first if it would not fit with its brush."""
    margin = _lerp(BRUSH, u[1]) / 2 + 2
    lo_y, lo_x = np.full(n, np.inf), np.full(n, np.inf)
    hi_y, hi_x = np.full(n, -np.inf), np.full(n, -np.inf)
    for low, high, v in ((lo_y, hi_y, y), (lo_x, hi_x, x)):
        np.minimum.at(low, which, v)
        np.maximum.at(high, which, v)
    lo_y, hi_y, lo_x, hi_x = (v[which] for v in (lo_y, hi_y, lo_x, hi_x))
    room = CANVAS - 2 * margin
    shrink = np.minimum(1, room / np.maximum(np.maximum(hi_y - lo_y, hi_x - lo_x), 1e-9))
    y, x, lo_y, hi_y, lo_x, hi_x = (v * shrink for v in (y, x, lo_y, hi_y, lo_x, hi_x))
    return (y - lo_y + margin + u[6] * (room - (hi_y - lo_y)),
            x - lo_x + margin + u[5] * (room - (hi_x - lo_x)))


def _distance(marks: np.ndarray, reach: int) -> np.ndarray:
    """Euclidean distance from each cell to the nearest marked cell of its image, exact up to `reach` cells.

    Squared distance is separable: the nearest mark along each row within reach, then along each column. In int16,
    as squares of small whole numbers: half the memory traffic of float32.
    """
    far = 2 * (reach + 1) ** 2  # farther than anything within reach, and small enough to add to
    squared = np.where(marks, 0, far).astype(np.int16)
    for axis in (2, 1):
        pad = [(0, 0)] * 3
        pad[axis] = (reach, reach)
        padded = np.pad(squared, pad, constant_values=far)
        nearest = np.full_like(squared, far)
        size = squared.shape[axis]
        for k in range(-reach, reach + 1):
            shifted = padded[(slice(None),) * axis + (slice(reach + k, reach + k + size),)]
            np.minimum(nearest, shifted + k * k, out=nearest)
        squared = nearest
    return np.sqrt(squared, dtype=np.float32)


def _lerp(span: tuple[float, float], t: np.ndarray) -> np.ndarray:
    return span[0] + (span[1] - span[0]) * t

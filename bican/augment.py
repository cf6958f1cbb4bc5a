"""Training digits varied the way people's handwriting differs from MNIST's writers, as batched torch ops that run on
the training device: stroke thickness, slant and size, position, wobble, blur and low resolution.

The transforms take float digits [M, 1, 28, 28] in [0, 1] and their parameters per digit (low resolution: one side
for the batch), whose neutral values leave a digit as it is, so a batch mixes strengths without a Python loop or a
host-device round trip.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random

import torch
import torch.nn.functional as F

SIDE = 28
ROTATE_DEG = 15.0  # people tilt their digits by about this much either way
SCALE = (0.8, 1.2)  # digit size against MNIST's 20-pixel box
SHEAR = 0.3  # horizontal slant, x += SHEAR * y at most: about 17 degrees of italic
SHIFT_PX = 2.0  # position, either way on each axis
ELASTIC_PX = 1.5  # the most a smooth random displacement moves a pixel: hand wobble, not a new shape
ELASTIC_GRID = 4  # control points per side of that displacement; fewer makes it smoother
# Thinning at most half of erosion's pixel: MNIST's strokes are about 2 pixels wide, and a whole pixel's erosion left
# faint ghosts rather than thin strokes.
THIN = 0.5
BLUR_SIGMA = 1.0  # Gaussian blur, in pixels at most: a soft pen, a scan out of focus
# Low resolution: down to this many pixels a side (inclusive), then back up to 28; at 8 a digit was a smudge.
LOW_SIDES = (12, 18)
# Which share of the varied digits each optional transform takes, as (start, end) of the batch's varied rows, which
# come in random order: wobble alone, wobble and blur, low resolution alone, neither (blur and low resolution together
# left smudges). A slice costs only its own rows, where a random mask would compute every row on one CPU thread.
# Slant, size, position and thickness vary on every varied digit, from neutral to their limits.
ELASTIC_ROWS, BLUR_ROWS, LOW_ROWS = (0.0, 0.5), (0.25, 0.5), (0.5, 0.75)


def thickness(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Strokes one pixel thicker at amount 1 (dilation), one thinner at -1 (erosion), in between by blending."""
    t = amount.view(-1, 1, 1, 1)
    return x + t.clamp_min(0) * (_spread(x, torch.maximum) - x) + (-t).clamp_min(0) * (_spread(x, torch.minimum) - x)


def _spread(x: torch.Tensor, pick) -> torch.Tensor:
    """The max (or min) over each pixel's 3x3 neighbourhood, as two 3-tap passes over shifted views: on one CPU
    thread a quarter of max_pool2d's time on MNIST-sized batches. Outside the image counts as paper (0)."""
    for dim in (2, 3):
        padded = F.pad(x, (1, 1, 0, 0) if dim == 3 else (0, 0, 1, 1))
        x = pick(pick(padded.narrow(dim, 0, SIDE), padded.narrow(dim, 1, SIDE)), padded.narrow(dim, 2, SIDE))
    return x


def affine(angle_deg: torch.Tensor, scale: torch.Tensor, shear: torch.Tensor, shift_px: torch.Tensor) -> torch.Tensor:
    """The sampling matrices [M, 2, 3] that rotate, scale (>1 enlarges), slant and shift (pixels [M, 2]) digits."""
    a = torch.deg2rad(angle_deg)
    cos, sin = torch.cos(a), torch.sin(a)
    # affine_grid maps each output pixel to where it samples the input: the inverse of the digit's motion.
    rows = torch.stack([torch.stack([cos, -sin + shear * cos], -1), torch.stack([sin, cos + shear * sin], -1)], 1)
    linear = rows / scale.view(-1, 1, 1)
    offset = -shift_px * (2.0 / SIDE)  # pixels to grid units, which span 2 across the image
    return torch.cat([linear, offset.unsqueeze(-1)], dim=2)


def elastic(noise: torch.Tensor, amplitude_px: torch.Tensor) -> torch.Tensor:
    """A smooth displacement field [M, 28, 28, 2] in grid units from coarse noise [M, 2, G, G], each digit's largest
    move scaled to its amplitude in pixels."""
    spline = _upsampler(noise.shape[-1], noise.device, noise.dtype)
    field = torch.einsum("ij,mcjk,lk->mcil", spline, noise, spline)  # bicubic, as two small matrix products
    peak = field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return (field / peak * amplitude_px.view(-1, 1, 1, 1) * (2.0 / SIDE)).permute(0, 2, 3, 1)


@functools.cache
def _upsampler(points: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """[28, points]: bicubic interpolation from `points` control values to 28 along one axis."""
    unit = torch.eye(points, dtype=dtype, device=device).view(points, 1, points, 1)
    return F.interpolate(unit, size=(SIDE, 1), mode="bicubic", align_corners=True).view(points, SIDE).T.contiguous()


def warp(x: torch.Tensor, theta: torch.Tensor, flow: torch.Tensor | None = None) -> torch.Tensor:
    """Resample digits through affine matrices [M, 2, 3], plus a displacement field [M, 28, 28, 2] if given."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if flow is not None:
        grid = grid + flow
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def blur(x: torch.Tensor, sigma_px: torch.Tensor) -> torch.Tensor:
    """A separable 5-tap Gaussian blur with each digit's own sigma; sigma 0 leaves the digit as it is."""
    taps = torch.arange(-2, 3, device=x.device, dtype=x.dtype)
    sigma = sigma_px.to(x.dtype).clamp_min(1e-3).view(-1, 1)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).view(-1, 5, 1, 1)
    for dim in (2, 3):  # shifted views, weighted: a grouped convolution of one group per digit was slower
        padded = F.pad(x, (2, 2, 0, 0) if dim == 3 else (0, 0, 2, 2))
        x = sum(kernel[:, i:i + 1] * padded.narrow(dim, i, SIDE) for i in range(5))
    return x


def low_resolution(x: torch.Tensor, side: int) -> torch.Tensor:
    """Digits as a coarse scan sees them: averaged down to side x side pixels, then bilinear back up to 28."""
    small = F.interpolate(x, size=(side, side), mode="area")
    return F.interpolate(small, size=(SIDE, SIDE), mode="bilinear", align_corners=False).clamp(0, 1)


class Augmenter:
    """Replaces a fraction of each batch with varied digits; the rest stay clean MNIST.

    Draws come from a generator on the batch's device, reseeded from (seed, step) each step, so a run, resumed or
    not, sees the same digits at the same step on the same device.

    Args:
        fraction: the share of each batch's digits that is varied; 0 returns every batch untouched.
        seed: the run's seed (with the rank under torchrun, so ranks vary their digits differently).
        device: where the batches live.
        pool: uint8 [P, 28, 28] digits rendered as the canvas draws them, on the device; when given, a third of
            the varied digits are drawn from it instead of being transformed.
    """

    POOL_SHARE = 1 / 3

    def __init__(self, fraction: float, seed: int, device: torch.device, pool: torch.Tensor | None = None):
        self.fraction, self.seed, self.pool = fraction, seed, pool
        self.generator = torch.Generator(device=device)

    def __call__(self, digits: torch.Tensor, step: int) -> torch.Tensor:
        """The batch uint8 [N, 28, 28] with its first round(fraction * N) digits varied (a batch comes in random
        order, so those are a random choice)."""
        count = round(self.fraction * len(digits))
        if count == 0:
            return digits
        key = int.from_bytes(hashlib.blake2b(f"{self.seed}:{step}".encode(), digest_size=8).digest(), "little")
        self.generator.manual_seed(key)
        out = digits.clone()
        drawn = round(count * self.POOL_SHARE) if self.pool is not None else 0
        if drawn:
            pick = torch.randint(len(self.pool), (drawn,), generator=self.generator, device=digits.device)
            out[:drawn] = self.pool[pick]
        x = digits[drawn:count].unsqueeze(1).float() / 255.0
        varied = self._transform(x, random.Random(key).randint(*LOW_SIDES))
        out[drawn:count] = (varied.squeeze(1) * 255.0).round().clamp(0, 255).to(torch.uint8)
        return out

    def _transform(self, x: torch.Tensor, side: int) -> torch.Tensor:
        """Every digit thickened or thinned, turned, scaled, slanted and shifted; slices of them also wobbled,
        blurred or coarsened (ELASTIC_ROWS, BLUR_ROWS, LOW_ROWS)."""
        m, g = len(x), self.generator
        u = torch.rand(m, 8, generator=g, device=x.device)  # one uniform draw per digit and parameter

        def span(i: int, low: float, high: float) -> torch.Tensor:
            return low + (high - low) * u[:, i]

        def rows(share: tuple[float, float]) -> slice:
            return slice(round(share[0] * m), round(share[1] * m))

        theta = affine(span(0, -ROTATE_DEG, ROTATE_DEG), torch.exp(span(1, *map(math.log, SCALE))),
                       span(2, -SHEAR, SHEAR), torch.stack([span(3, -SHIFT_PX, SHIFT_PX), span(4, -SHIFT_PX, SHIFT_PX)], 1))
        wobbly = rows(ELASTIC_ROWS)
        noise = torch.randn(wobbly.stop - wobbly.start, 2, ELASTIC_GRID, ELASTIC_GRID, generator=g, device=x.device)
        flow = torch.zeros(m, SIDE, SIDE, 2, device=x.device, dtype=x.dtype)
        flow[wobbly] = elastic(noise, span(5, 0, ELASTIC_PX)[wobbly])
        x = warp(thickness(x, span(6, -THIN, 1)), theta, flow)
        soft, coarse = rows(BLUR_ROWS), rows(LOW_ROWS)
        x[soft] = blur(x[soft], span(7, 0, BLUR_SIGMA)[soft])
        if coarse.stop > coarse.start:  # interpolate refuses an empty batch
            x[coarse] = low_resolution(x[coarse], side)
        return x

"""A learned factorized prior over integer latents, and its integer CDF tables for the range coder."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

PRECISION = 16  # the coder's frequency total is 2**PRECISION
TAIL = 1e-6  # prior mass left outside each latent's table, on each side
MAX_SYMBOLS = 255  # symbols per latent table at most


@dataclass(frozen=True)
class CdfTables:
    """Integer cumulative frequencies, one table per latent, as the coder consumes them."""

    low: np.ndarray  # int64 [L]: the symbol that index 0 of each table stands for
    cdf: np.ndarray  # int64 [L, S+1], rows padded with the total after their own end
    sizes: np.ndarray  # int64 [L]: symbols in each table

    @property
    def high(self) -> np.ndarray:
        return self.low + self.sizes - 1

    @property
    def min_bits(self) -> float:
        """The fewest bits any one code can carry: every latent at its likeliest symbol."""
        freq = np.diff(self.cdf, axis=1)
        return float(-np.log2(freq.max(axis=1) / float(1 << PRECISION)).sum())

    def bits(self, symbols: np.ndarray) -> np.ndarray:
        """Ideal code length in bits of each row of int symbols [N, L], under these tables."""
        idx = symbols - self.low
        rows = np.arange(len(self.low))
        freq = self.cdf[rows, idx + 1] - self.cdf[rows, idx]
        return -np.log2(freq / float(1 << PRECISION)).sum(axis=-1)


class FactorizedPrior(nn.Module):
    """Each latent has its own mixture of Gaussians, discretized to unit bins."""

    def __init__(self, latents: int, components: int):
        super().__init__()
        spread = torch.linspace(-1, 1, components) if components > 1 else torch.zeros(1)
        self.means = nn.Parameter(spread.repeat(latents, 1))
        self.log_scales = nn.Parameter(torch.full((latents, components), math.log(2.0)))
        self.logits = nn.Parameter(torch.zeros(latents, components))

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """P(bin of width 1 around y) for each latent of y [N, L]."""
        y = y.float().unsqueeze(-1)
        scale = self.log_scales.exp().clamp_min(0.05)
        upper = torch.special.ndtr((y + 0.5 - self.means) / scale)
        lower = torch.special.ndtr((y - 0.5 - self.means) / scale)
        weights = torch.softmax(self.logits, dim=-1)
        return ((upper - lower) * weights).sum(-1).clamp_min(1e-9)

    def bits(self, y: torch.Tensor) -> torch.Tensor:
        """Information content in bits of each row of y [N, L]."""
        return -torch.log2(self.likelihood(y)).sum(-1)

    @torch.no_grad()
    def tables(self) -> CdfTables:
        """Integer CDF tables, computed in float64 on the CPU so every machine gets the same ones."""
        means = self.means.detach().double().cpu()
        scale = self.log_scales.detach().double().cpu().exp().clamp_min(0.05)
        weights = torch.softmax(self.logits.detach().double().cpu(), -1)
        half = MAX_SYMBOLS // 2
        grid = torch.arange(-half, half + 2, dtype=torch.float64) - 0.5  # bin edges
        edges = (torch.special.ndtr((grid[None, :, None] - means[:, None]) / scale[:, None]) * weights[:, None]).sum(-1)
        lows, rows = [], []
        for cum in edges.numpy():
            inside = np.flatnonzero((cum[1:] > TAIL) & (cum[:-1] < 1 - TAIL))
            first, last = inside[0], inside[-1]
            lows.append(first - half)
            rows.append(_quantize_pmf(np.diff(cum[first:last + 2])))
        width = max(len(r) for r in rows) + 1
        cdf = np.full((len(rows), width), 1 << PRECISION, np.int64)
        for i, freq in enumerate(rows):
            cdf[i, : len(freq) + 1] = np.concatenate([[0], np.cumsum(freq)])
        return CdfTables(np.array(lows, np.int64), cdf, np.array([len(r) for r in rows], np.int64))


def _quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Integer frequencies summing to 2**PRECISION, each at least 1, close to pmf."""
    total = 1 << PRECISION
    pmf = np.maximum(pmf, 0) / max(pmf.sum(), 1e-300)
    freq = np.floor(pmf * (total - len(pmf))).astype(np.int64) + 1
    freq[np.argmax(freq)] += total - freq.sum()
    return freq

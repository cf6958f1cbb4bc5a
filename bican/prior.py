"""A learned factorized prior over integer latents, and its integer CDF tables for the range coder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import nn

PRECISION = 16  # the coder's frequency total is 2**PRECISION
TAIL = 1e-6  # prior mass left outside each latent's table, on each side
MAX_SYMBOLS = 255  # symbols per latent table at most


@dataclass(frozen=True)
class CdfTables:
    """Integer cumulative frequencies as the coder consumes them: a mixture of K sets of per-latent tables.

    A code is written as the index of the component that codes it in the fewest bits, then its latents under that
    component's tables. The learned factorized prior is the mixture of one, whose index costs nothing.
    """

    low: np.ndarray  # int64 [L]: the symbol that index 0 of each latent's tables stands for
    cdf: np.ndarray  # int64 [K, L, S+1], rows padded with the total after their own end
    sizes: np.ndarray  # int64 [L]: symbols in each latent's tables
    mix: np.ndarray  # int64 [K+1]: cumulative frequencies of the components

    @property
    def high(self) -> np.ndarray:
        return self.low + self.sizes - 1

    @property
    def min_bits(self) -> float:
        """The fewest bits any one code can carry: the cheapest component, every latent at its likeliest symbol."""
        most = np.diff(self.cdf, axis=2).max(axis=2)
        return float((_bits(np.diff(self.mix)) + _bits(most).sum(axis=1)).min())

    @cached_property
    def _symbol_bits(self) -> np.ndarray:
        """Bits [L, S, K] of each symbol under each component."""
        with np.errstate(divide="ignore"):  # padding beyond a table's end has frequency 0: infinite bits, unused
            return _bits(np.diff(self.cdf, axis=2)).transpose(1, 2, 0).copy()

    def component_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Bits [N, K] of each row of int symbols [N, L] under each component, its index included."""
        idx = np.asarray(symbols, np.int64) - self.low
        total = np.tile(_bits(np.diff(self.mix)), (len(idx), 1))
        for i, table in enumerate(self._symbol_bits):  # one latent at a time: [N, K], not [N, L, K], in memory
            total += table[idx[:, i]]
        return total

    def components(self, symbols: np.ndarray) -> np.ndarray:
        """The component [N] that codes each row in the fewest bits (the first of equals)."""
        return self.component_bits(symbols).argmin(axis=1)

    def bits(self, symbols: np.ndarray) -> np.ndarray:
        """Ideal code length in bits of each row of int symbols [N, L], its component's index included."""
        return self.component_bits(symbols).min(axis=1)

    def latent_bits(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each row's ideal bits go: each latent's -log2 probability [N, L] under the row's chosen component,
        and that component's index [N] (bits summing with the latents' to `bits`)."""
        idx = np.asarray(symbols, np.int64) - self.low
        chosen = self.components(symbols)
        per_latent = self._symbol_bits[np.arange(idx.shape[1]), idx, chosen[:, None]]
        return per_latent, _bits(np.diff(self.mix))[chosen]


def _bits(freq: np.ndarray) -> np.ndarray:
    return -np.log2(freq / float(1 << PRECISION))


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
        sizes = np.array([len(r) for r in rows], np.int64)
        return CdfTables(np.array(lows, np.int64), _cumulative([rows], sizes), sizes,
                         np.array([0, 1 << PRECISION], np.int64))


def fit_mixture(tables: CdfTables, symbols: np.ndarray, components: int, iterations: int = 60,
                seed: int = 0) -> CdfTables:
    """A mixture of `components` categorical tables per latent, fitted to codes by EM.

    The latents of a trained model are not independent: a "1" and an "8" use different corners of the code space.
    Each digit's code is assigned to the component that codes it best, and each component's tables are refitted to
    its codes, over the same symbol ranges as `tables`, so that every symbol the encoder can emit stays codable.

    Args:
        tables: the model's factorized tables; they fix each latent's symbol range.
        symbols: int codes [N, L] of training digits, as the encoder emits them.
        components: K, the mixture's size.
        iterations: EM rounds, the first half soft, the second hard.
        seed: for the initial random assignment.
    """
    idx = torch.from_numpy(np.asarray(symbols, np.int64) - tables.low)
    n, latents = idx.shape
    width = int(tables.sizes.max())
    onehot = torch.zeros(n, latents, width).scatter_(2, idx[..., None], 1.0).reshape(n, -1)
    support = (torch.arange(width)[None] < torch.from_numpy(tables.sizes)[:, None]).float()  # [L, S]
    start = torch.randint(components, (n,), generator=torch.Generator().manual_seed(seed))
    member = torch.nn.functional.one_hot(start, components).float()  # [N, K]: each code's share in each component
    for step in range(iterations):
        counts = (member.T @ onehot).reshape(components, latents, width) + 0.1 * support
        pmf = counts / counts.sum(-1, keepdim=True)
        prior = (member.sum(0) + 1) / (n + components)
        # Symbols outside a latent's range have pmf 0 and never occur: clamp so that 0 * log 0 stays 0.
        score = onehot @ torch.log(pmf.clamp_min(1e-30)).reshape(components, -1).T + torch.log(prior)
        # Soft EM first, so that components can separate from a random start; then hard EM, which minimizes what
        # the coder pays: each code's bits under its best component.
        hard = step >= iterations // 2
        member = (torch.nn.functional.one_hot(score.argmax(1), components).float() if hard
                  else torch.softmax(score, dim=1))
    pmf = pmf.double().numpy()
    rows = [[_quantize_pmf(pmf[k, i, :size]) for i, size in enumerate(tables.sizes)] for k in range(components)]
    mix = np.concatenate([[0], np.cumsum(_quantize_pmf(prior.double().numpy()))])
    return CdfTables(tables.low, _cumulative(rows, tables.sizes), tables.sizes, mix)


def _cumulative(rows: list[list[np.ndarray]], sizes: np.ndarray) -> np.ndarray:
    """Frequencies rows[k][l] as cumulative tables [K, L, S+1], padded with the total."""
    cdf = np.full((len(rows), len(sizes), int(sizes.max()) + 1), 1 << PRECISION, np.int64)
    for k, component in enumerate(rows):
        for i, freq in enumerate(component):
            cdf[k, i, : len(freq) + 1] = np.concatenate([[0], np.cumsum(freq)])
    return cdf


def _quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Integer frequencies summing to 2**PRECISION, each at least 1, close to pmf."""
    total = 1 << PRECISION
    pmf = np.maximum(pmf, 0) / max(pmf.sum(), 1e-300)
    freq = np.floor(pmf * (total - len(pmf))).astype(np.int64) + 1
    freq[np.argmax(freq)] += total - freq.sum()
    return freq

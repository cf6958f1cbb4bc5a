"""The settling encoder: codes that are recompression fixed points, found by a search among ambiguous roundings,
and refined (opt-in) by coordinate descent on squared error + rate weight * bits."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .nets import Networks
from .settings import EncoderSettings

# settle's contract: candidates [M, L] -> (the codes they map to, their reconstructions, which to accept)
Settle = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class Settler:
    """Each digit's idempotent code, under `settings`; `bits` is the coder's ideal code length of codes [N, L]."""

    def __init__(self, nets: Networks, bits: Callable[[torch.Tensor], torch.Tensor], settings: EncoderSettings):
        self.nets, self.bits, self.settings = nets, bits, settings
        self.rate_weight = nets.model.cfg.rate_weight

    def codes(self, digits: torch.Tensor) -> torch.Tensor:
        """Among the fixed points reached from each digit's candidate codes, the one whose reconstruction is nearest
        the digit, preferring codes that settled. The plain code comes first and wins ties, so a decoded digit, whose
        plain code is already its fixed point, encodes to the same code again. Refinement never moves a code that
        reconstructs its digit (see EncoderSettings.exact), so it keeps that property."""
        starts = self.candidates(self.nets.latent(digits))
        n, count = len(digits), len(starts)
        codes, images, settled = self.settle(torch.cat(starts))
        if count == 1 and not self.settings.refine:
            return codes
        error = self.nets.error(images, digits, count)
        error = torch.where(settled, error, torch.inf).view(count, n)
        best = error.argmin(0)  # torch returns the first of equal minima
        rows = torch.arange(n, device=codes.device)
        codes, error = codes.view(count, n, -1)[best, rows], error[best, rows]
        return self.refined(digits, codes, error, self.settle) if self.settings.refine else codes

    def candidates(self, latent: torch.Tensor) -> list[torch.Tensor]:
        """The plain code, then for each of the `search` latents nearest a rounding boundary, that one rounded the
        other way."""
        plain = self.nets.quantize(latent)
        rows = torch.arange(len(latent), device=latent.device)
        ambiguous = (latent - latent.round()).abs().argsort(dim=1, descending=True)[:, :self.settings.search]
        out = [plain]
        for i in ambiguous.T:
            other = plain.clone()
            step = torch.where(latent[rows, i] > plain[rows, i], 1, -1)
            other[rows, i] = (plain[rows, i] + step).clamp(self.nets.low[i].long(), self.nets.high[i].long())
            out.append(other)
        return out

    def settle(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Iterate y <- round(C(D(y))) up to `rounds` times, re-running only the rows that still move (most settle
        in a round or two). Returns the codes, their reconstructions (for a row that never settled, that of its
        previous code), and which codes are fixed points."""
        y = y.clone()
        images = torch.empty(len(y), 28, 28, dtype=torch.uint8, device=y.device)
        active = torch.arange(len(y), device=y.device)
        for _ in range(self.settings.rounds):
            images[active] = self.nets.decode(y[active])
            again = self.nets.encode(images[active])
            moved = (again != y[active]).any(dim=1)
            active = active[moved]
            y[active] = again[moved]
            if not len(active):
                break
        settled = torch.ones(len(y), dtype=torch.bool, device=y.device)
        settled[active] = False
        return y, images, settled

    def refined(self, digits: torch.Tensor, codes: torch.Tensor, error: torch.Tensor, settle: Settle) -> torch.Tensor:
        """Coordinate descent, `refine_rows` digits at a time, over the codes `settle` maps candidates to."""
        rows = self.settings.refine_rows
        return torch.cat([self._refined_rows(digits[i:i + rows], codes[i:i + rows], error[i:i + rows], settle)
                          for i in range(0, len(codes), rows)])

    def _refined_rows(self, digits, codes, error, settle: Settle) -> torch.Tensor:
        """Up to `refine` passes. A candidate that reconstructs the digit wins outright and ends its descent. A digit
        that did not move has the same neighbours next pass, so only digits that moved are tried again."""
        codes, exact = codes.clone(), self.settings.exact
        score = error + self.rate_weight * self.bits(codes)
        active = torch.nonzero(error >= exact).flatten()
        for _ in range(self.settings.refine):
            if not len(active):
                break
            starts = self.nets.neighbours(codes[active])
            found, images, settled = settle(starts.reshape(-1, self.nets.latents))
            distance = self.nets.error(images, digits[active], len(starts))
            candidate = torch.where(distance < exact, -torch.inf, distance + self.rate_weight * self.bits(found))
            best, choice = torch.where(settled, candidate, torch.inf).view(len(starts), -1).min(0)
            moved = best < score[active]
            rows = torch.arange(len(active), device=codes.device)
            codes[active[moved]] = found.view(len(starts), len(active), -1)[choice, rows][moved]
            score[active[moved]] = best[moved]
            active = active[moved & (best > -torch.inf)]
        return codes

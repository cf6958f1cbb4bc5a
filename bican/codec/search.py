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
        """Among the fixed points reached from each digit's candidate codes, the best by the encoder's own measure:
        the nearest to the digit, or, for refinement and inversion, the lowest `objective` (from another start, a
        descent that moves nothing would end worse than a code it had). Codes that settled come first. The plain
        code comes first and wins ties, so a decoded digit, whose plain code is already its fixed point, encodes to
        the same code again. Refinement never moves a code that reconstructs its digit (see EncoderSettings.exact),
        so it keeps that property."""
        starts = self.candidates(self.nets.latent(digits))
        n, count = len(digits), len(starts)
        codes, images, settled = self.settle(torch.cat(starts))
        if count == 1 and not self.settings.refine:
            return codes
        error = torch.where(settled, self.nets.error(images, digits, count), torch.inf)
        rank = self.objective(error, codes) if self.settings.refine or self.settings.invert else error
        best = rank.view(count, n).argmin(0)  # torch returns the first of equal minima
        rows = torch.arange(n, device=codes.device)
        codes, error = codes.view(count, n, -1)[best, rows], error.view(count, n)[best, rows]
        return self.refined(digits, codes, error, self.settle) if self.settings.refine else codes

    def objective(self, error: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """What refinement and inversion minimize: squared error + rate weight * bits, or -inf for a code whose
        reconstruction is the digit itself (within EncoderSettings.exact), which wins outright."""
        return torch.where(error < self.settings.exact, -torch.inf, error + self.rate_weight * self.bits(codes))

    def score(self, digits: torch.Tensor, codes: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        """Each digit's `objective` for its code [N, L]; `images` are the codes' decodings, where the caller has them."""
        images = self.nets.decode(codes) if images is None else images
        return self.objective(self.nets.error(images, digits, 1), codes)

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
        codes = codes.clone()
        score = self.objective(error, codes)
        active = torch.nonzero(score > -torch.inf).flatten()
        for _ in range(self.settings.refine):
            if not len(active):
                break
            starts = self.nets.neighbours(codes[active])
            found, images, settled = settle(starts.reshape(-1, self.nets.latents))
            distance = self.nets.error(images, digits[active], len(starts))
            best, choice = torch.where(settled, self.objective(distance, found), torch.inf).view(len(starts), -1).min(0)
            moved = best < score[active]
            rows = torch.arange(len(active), device=codes.device)
            codes[active[moved]] = found.view(len(starts), len(active), -1)[choice, rows][moved]
            score[active[moved]] = best[moved]
            active = active[moved & (best > -torch.inf)]
        return codes

"""The inverting encoder: codes found by gradient descent through the decoder, each moved until its decoding is
recognized as itself, or else, and wherever it scores better, replaced by its fixed-point code (see
EncoderSettings.invert, .recognize_rounds)."""

from __future__ import annotations

import torch

from .search import Settler


class Inverter:
    """Each digit's code by inversion; `settler` supplies the networks, the refinement and the fixed-point fallback."""

    def __init__(self, settler: Settler):
        self.settler, self.nets, self.settings = settler, settler.nets, settler.settings

    def codes(self, digits: torch.Tensor) -> torch.Tensor:
        """Each digit's code, moved to the code its decoding is recognized as while it moves. The fixed-point code is
        always a candidate too: it replaces a code still moving, and one that scores worse (Settler.objective; ties
        keep the inversion), so every code is idempotent and none scores worse than the fixed point's."""
        codes = self._direct(digits)
        unsure = torch.zeros(len(codes), dtype=torch.bool, device=codes.device)
        moving = torch.arange(len(codes), device=codes.device)
        for _ in range(self.settings.recognize_rounds):
            again = self._direct(self.nets.decode(codes[moving]))
            moved = (again != codes[moving]).any(dim=1)
            moving = moving[moved]
            codes[moving] = again[moved]
            if not len(moving):
                break
        unsure[moving] = True
        settled = self.settler.codes(digits)
        images = self.nets.decode(settled)
        # A code of the fixed point's search that never settled is no candidate: it would not encode to itself.
        fixed = (self.nets.encode(images) == settled).all(dim=1)
        worse = unsure | fixed & (self.settler.score(digits, settled, images) < self.settler.score(digits, codes))
        codes[worse] = settled[worse]
        return codes

    def _direct(self, digits: torch.Tensor) -> torch.Tensor:
        """A decoded digit's own code: the plain code, or failing that the rounded inversion, where either reconstructs
        the digit. Any other digit's plain code or rounded inversion, refined over codes that need not be fixed
        points."""
        nets, exact, rows = self.nets, self.settings.exact, self.settings.refine_rows
        codes = nets.encode(digits)
        error = nets.error(nets.decode(codes), digits, 1)
        rest = torch.nonzero(error >= exact).flatten()
        if not len(rest):
            return codes
        inverted = nets.quantize(nets.batched(self._descended, torch.cat([nets.latent(digits[rest]),
                                                                          digits[rest].flatten(1).float()], 1)))
        nearest = [self._nearest(digits[rest[i:i + rows]], inverted[i:i + rows]) for i in range(0, len(rest), rows)]
        candidate, distance = (torch.cat(parts) for parts in zip(*nearest))
        found = distance < exact
        codes[rest[found]] = candidate[found]
        rest, candidate, distance = rest[~found], candidate[~found], distance[~found]
        if len(rest):
            # The inversion reconstructs closer than the plain code, at more bits.
            objective = self.settler.objective
            closer = objective(distance, candidate) < objective(error[rest], codes[rest])
            codes[rest] = self.settler.refined(digits[rest], torch.where(closer[:, None], candidate, codes[rest]),
                                               torch.where(closer, distance, error[rest]), self._decoded)
        return codes

    def _nearest(self, digits: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per digit, the code nearest it among `codes` and their neighbours (an inversion can round one latent the
        wrong way), and that code's squared error."""
        candidates = torch.cat([codes[None], self.nets.neighbours(codes)])
        images = self.nets.decode(candidates.view(-1, self.nets.latents))
        error, choice = self.nets.error(images, digits, len(candidates)).view(len(candidates), -1).min(0)
        return candidates[choice, torch.arange(len(codes), device=codes.device)], error

    def _descended(self, rows: torch.Tensor) -> torch.Tensor:
        """Latents [N, L] that minimize the decoder's squared error, from rows [N, L + 784] of encoder latents and
        their digit's pixels (one tensor, so `batched` pads both alike). Rows are independent: Adam is elementwise."""
        model, latents, steps = self.nets.model, self.nets.latents, self.settings.invert_steps
        latent, target = rows[:, :latents].clone(), model.to_native(rows[:, latents:].view(-1, 28, 28))
        latent.requires_grad_(True)
        optimizer = torch.optim.Adam([latent], lr=self.settings.invert_lr)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.05 ** (1 / steps))  # to 5 %: settle, then round
        with torch.enable_grad():
            for _ in range(steps):
                loss = (model.decompressor(latent.to(self.nets.dtype)).float() - target.float()).square().sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                decay.step()
        return latent.detach()

    def _decoded(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Settler.settle's contract without the fixed point: the codes as given, their reconstructions, all
        accepted."""
        return y, self.nets.decode(y), torch.ones(len(y), dtype=torch.bool, device=y.device)

"""The BiCAN networks: Compressor and Decompressor (names from the 2019 seed) and the quantizer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .prior import FactorizedPrior

SEED_LEVELS = 255.0  # the seed stores each tanh latent as one byte


def _act() -> nn.Module:
    return nn.LeakyReLU(0.1)


def _norm(on: bool, channels: int, dims: int) -> list[nn.Module]:
    if not on:
        return []
    return [nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)]


class _Residual(nn.Module):
    """x + gain * conv(act(conv(x))), 3x3 at constant size: depth for sharper strokes, at few parameters."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), _act(), nn.Conv2d(channels, channels, 3, 1, 1))
        # ReZero: each block starts as the identity and opens gradually. Without it, two blocks pushed the tanh output
        # into saturation within Adam's first steps, and the run never left a constant image.
        self.gain = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gain * self.body(x)


def _blocks(cfg: ModelConfig, channels: int) -> list[nn.Module]:
    return [_Residual(channels) for _ in range(cfg.blocks)]


class _Shape:
    """Geometry shared by both networks of one config, so they mirror each other exactly."""

    def __init__(self, cfg: ModelConfig):
        self.seed = cfg.family == "seed"
        self.size = 32 if self.seed else 28
        self.convs = 3 if self.seed else 2
        self.channels = [1] + [cfg.width * 2**i for i in range(self.convs)]
        self.side = self.size // 2**self.convs
        self.flat = self.channels[-1] * self.side**2


class Compressor(nn.Module):
    """Strided convolutions, then fully connected layers down to the latents."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        s = _Shape(cfg)
        layers: list[nn.Module] = []
        for i in range(s.convs):
            layers += [nn.Conv2d(s.channels[i], s.channels[i + 1], 4, 2, 1),
                       *_norm(s.seed and i > 0, s.channels[i + 1], 2), _act(), *_blocks(cfg, s.channels[i + 1])]
        layers += [nn.Flatten(), nn.Linear(s.flat, cfg.hidden), *_norm(s.seed, cfg.hidden, 1), _act(),
                   nn.Linear(cfg.hidden, cfg.latents)]
        self.net = nn.Sequential(*layers)
        self.seed = s.seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        # The seed's code is tanh; we express it in byte units so one quantizer serves both families.
        return (torch.tanh(y) + 1) * (SEED_LEVELS / 2) if self.seed else y


class Decompressor(nn.Module):
    """The Compressor's mirror image, with transposed convolutions; outputs [-1, 1]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        s = _Shape(cfg)
        layers: list[nn.Module] = [nn.Linear(cfg.latents, cfg.hidden), *_norm(s.seed, cfg.hidden, 1), _act(),
                                   nn.Linear(cfg.hidden, s.flat), *_norm(s.seed, s.flat, 1), _act(),
                                   nn.Unflatten(1, (s.channels[-1], s.side, s.side))]
        for i in reversed(range(s.convs)):
            layers += _blocks(cfg, s.channels[i + 1])
            layers.append(nn.ConvTranspose2d(s.channels[i + 1], s.channels[i], 4, 2, 1))
            if i > 0:
                layers += [*_norm(s.seed, s.channels[i], 2), _act()]
        self.net = nn.Sequential(*layers)
        self.seed = s.seed

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.seed:
            y = y * (2 / SEED_LEVELS) - 1
        return torch.tanh(self.net(y))


class BiCAN(nn.Module):
    """A Compressor/Decompressor pair plus, for the entropy family, its learned prior."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.compressor = Compressor(cfg)
        self.decompressor = Decompressor(cfg)
        self.prior = FactorizedPrior(cfg.latents, cfg.prior_components) if cfg.family == "entropy" else None
        self.size = _Shape(cfg).size
        # Code-cycle distances are measured in tanh units for the seed, in quantization steps otherwise.
        self.code_scale = SEED_LEVELS / 2 if cfg.family == "seed" else 1.0

    def to_native(self, digits: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 28, 28] -> float [N, 1, S, S] in [-1, 1] at the network's native size."""
        x = digits.to(torch.float32).unsqueeze(1) / 127.5 - 1
        if self.size != 28:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x

    def to_uint8(self, x: torch.Tensor) -> torch.Tensor:
        """float [N, 1, S, S] in [-1, 1] -> uint8 [N, 28, 28]."""
        x = x.float()
        if x.shape[-1] != 28:
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True)
        return ((x.squeeze(1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)

    def quantize(self, y: torch.Tensor, mode: str, low: torch.Tensor | None = None,
                 high: torch.Tensor | None = None) -> torch.Tensor:
        """Quantize latents.

        Args:
            y: continuous latents [N, L].
            mode: "noise" adds uniform noise (training's stand-in for rounding, for the rate);
                "round" rounds with a straight-through gradient (what the decoder sees);
                "symbols" rounds and clamps into [low, high], returning int64 code symbols.
            low, high: per-latent symbol range, required for "symbols".
        """
        if mode == "noise":
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        if mode == "round":
            return y + (torch.round(y) - y).detach()
        if mode == "symbols":
            return torch.maximum(torch.minimum(torch.round(y.float()), high), low).to(torch.int64)
        raise ValueError(f"quantize mode must be noise, round or symbols, not {mode!r}")

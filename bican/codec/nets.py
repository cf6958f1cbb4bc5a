"""The model's networks as the encoder calls them: batched, on any device, in the codec's precision."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

from ..config import PRECISION_NAMES
from ..model import BiCAN

PRECISIONS = dict(zip(PRECISION_NAMES, (None, torch.float32, torch.bfloat16), strict=True))  # None: compute_dtype's choice


def compute_dtype(device: str | torch.device) -> torch.dtype:
    """bfloat16 on a CPU that computes it natively (AMX or AVX512-BF16), where it runs the networks 2.2 to 3.6 times
    faster than float32 at the same PSNR to 0.01 dB (docs/BENCHMARKS.md); float32 elsewhere. The codes stay
    bit-exact either way: the networks only choose them, and the entropy coder writes them."""
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    return torch.bfloat16 if torch.device(device).type == "cpu" and native else torch.float32


def check_digits(digits: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] (a single [28, 28] digit is promoted); anything else is a ValueError."""
    digits = np.asarray(digits)
    if digits.dtype != np.uint8:
        raise ValueError(f"digits must be uint8, not {digits.dtype}")
    if digits.ndim == 2:
        digits = digits[None]
    if digits.ndim != 3 or digits.shape[1:] != (28, 28):
        raise ValueError(f"digits must have shape [N, 28, 28] or [28, 28], not {list(digits.shape)}")
    return np.ascontiguousarray(digits)


class Networks:
    """A copy of the model's compressor and decompressor, and each latent's symbol range [low, high]."""

    # One call site (Codec), which hands over the model, its symbol range and the three settings of where it runs.
    def __init__(self, model: BiCAN, low: np.ndarray, high: np.ndarray, device: str | torch.device,  # noqa: PLR0913
                 dtype: torch.dtype | None, batch: int):
        self.device = torch.device(device)
        self.dtype = dtype or compute_dtype(device)
        # On the CPU, oneDNN runs these convolutions 1.2 to 2 times faster in channels-last layout. The codec works
        # on a copy, so that a model still in training keeps its own dtype and layout.
        layout = torch.channels_last if self.device.type == "cpu" else torch.preserve_format
        self.model = copy.deepcopy(model).eval().to(self.device, self.dtype, memory_format=layout).requires_grad_(False)
        self.latents = model.cfg.latents
        self.batch = batch
        self.low = torch.tensor(low, dtype=torch.float32, device=self.device)
        self.high = torch.tensor(high, dtype=torch.float32, device=self.device)

    def batched(self, net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """net over the rows of x, `batch` at a time. The last batch is padded (by repeating rows) to a power of two:
        oneDNN builds kernels for each new batch shape, and the fixed point's shrinking rounds would otherwise ask
        for dozens of shapes. (A floor of 64 rows made the studio's one-digit encoding twice as slow.)"""
        out = []
        for chunk in x.split(self.batch):
            size = min(self.batch, 1 << (len(chunk) - 1).bit_length())
            out.append(net(chunk[torch.arange(size, device=chunk.device) % len(chunk)])[:len(chunk)])
        return torch.cat(out)

    def latent(self, digits: torch.Tensor) -> torch.Tensor:
        """The compressor's continuous latents [N, L] of uint8 digits [N, 28, 28]."""
        return self.batched(lambda d: self.model.compressor(self.model.to_native(d).to(self.dtype)).float(), digits)

    def quantize(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.quantize(latent, "symbols", self.low, self.high)

    def encode(self, digits: torch.Tensor) -> torch.Tensor:
        """The plain code: the rounded latents."""
        return self.quantize(self.latent(digits))

    def decode(self, symbols: torch.Tensor) -> torch.Tensor:
        """uint8 digits [N, 28, 28] of integer codes [N, L]."""
        return self.batched(lambda y: self.model.to_uint8(self.model.decompressor(y.to(self.dtype))), symbols)

    def neighbours(self, codes: torch.Tensor) -> torch.Tensor:
        """[2L, N, L]: each code with one latent one step up, then the same one step down, clamped to the tables."""
        steps = torch.eye(self.latents, dtype=codes.dtype, device=codes.device).repeat_interleave(2, 0)
        steps[1::2] *= -1
        return torch.maximum(torch.minimum(codes[None] + steps[:, None], self.high.to(codes.dtype)),
                             self.low.to(codes.dtype))

    @staticmethod
    def error(images: torch.Tensor, digits: torch.Tensor, count: int) -> torch.Tensor:
        """Mean squared error [count * N] of `count` reconstructions per digit, candidate-major."""
        return (images.float() - digits.float().repeat(count, 1, 1)).square().mean((1, 2))

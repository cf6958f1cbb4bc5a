"""Digits to bytes and back: the networks on any device (nets), the encoder's search (search, invert) under
EncoderSettings (settings), and the entropy coder on the CPU (coder)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import bitstream, weights
from ..bitstream import BitstreamError
from ..model import BiCAN
from ..prior import CdfTables
from .coder import ByteCoder, TableCoder, make_coder
from .invert import Inverter
from .nets import PRECISIONS, Networks, check_digits, compute_dtype
from .search import Settler
from .settings import MAX_REFINE, SEARCH, EncoderSettings

__all__ = ["MAX_REFINE", "PRECISIONS", "SEARCH", "BitstreamError", "ByteCoder", "Codec", "EncoderSettings",
           "TableCoder", "check_digits", "compute_dtype", "decode_archive", "load", "load_cached"]


class Codec:
    """One model's encoder and decoder, bound to the model's fingerprint.

    Args:
        model: the networks; the codec works on a copy in its own precision.
        tables: the prior's integer CDF tables, or None for the seed's fixed-length code.
        fingerprint: the model's, as archives name it.
        name: what error messages call the model.
        device: where the networks run; coding is on the CPU.
        dtype: the networks' precision (None: compute_dtype's choice).
        settings: how the encoder chooses codes.
    """

    # The model, its tables and identity, where it runs and how it encodes: each is documented above, and every
    # caller past the first four names them.
    def __init__(self, model: BiCAN, tables: CdfTables | None, fingerprint: str, name: str = "model",  # noqa: PLR0913
                 device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                 settings: EncoderSettings = EncoderSettings()):
        self.coder = make_coder(tables, model.cfg.latents, name, fingerprint)
        self.settings = self.coder.settings(settings.resolved(model.cfg.latents, model.cfg.encoder == "invert"))
        self.nets = Networks(model, self.coder.low, self.coder.high, device, dtype, self.settings.batch)
        self.model, self.tables, self.fingerprint, self.name = self.nets.model, tables, fingerprint, name
        self.latents, self.low, self.high = model.cfg.latents, self.coder.low, self.coder.high
        self.device, self.dtype = self.nets.device, self.nets.dtype
        settler = Settler(self.nets, self._bits, self.settings)
        self.encoder = Inverter(settler) if self.settings.invert else settler

    @property
    def search(self) -> int:
        return self.settings.search

    @property
    def refine(self) -> int:
        return self.settings.refine

    @property
    def invert(self) -> bool:
        return self.settings.invert

    @torch.no_grad()
    def symbols(self, digits: np.ndarray, progress: Callable[[int], object] | None = None) -> np.ndarray:
        """Integer code symbols [N, L] for uint8 digits; `progress`, if given, is called with the number of digits
        done after each step."""
        digits, out, step = check_digits(digits), [], self.settings.step
        for i in range(0, len(digits), step):
            out.append(self.encoder.codes(torch.from_numpy(digits[i:i + step]).to(self.device)))
            if progress is not None:
                progress(len(out[-1]))
        return torch.cat(out).cpu().numpy() if out else np.zeros((0, self.latents), np.int64)

    @torch.no_grad()
    def reconstruct(self, symbols: np.ndarray) -> np.ndarray:
        """uint8 digits [N, 28, 28] from integer symbols [N, L]."""
        if not len(symbols):
            return np.zeros((0, 28, 28), np.uint8)
        return self.nets.decode(torch.from_numpy(np.asarray(symbols, np.int64)).to(self.device)).cpu().numpy()

    def ideal_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Cross-entropy of each row of symbols under the coder's tables, in bits."""
        return self.coder.ideal_bits(symbols)

    def _bits(self, codes: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.ideal_bits(codes.cpu().numpy())).to(codes.device, torch.float32)

    def encode_symbols(self, symbols: np.ndarray) -> list[bytes]:
        """One stream per row of symbols [N, L]: each digit on its own, as the studio shows it."""
        return self.coder.streams(symbols)

    def decode_symbols(self, streams: list[bytes]) -> np.ndarray:
        """Integer symbols [N, L] from per-digit streams; a BitstreamError for a stream this model did not write."""
        return self.coder.read_streams(streams)

    def encode(self, digits: np.ndarray) -> tuple[list[bytes], np.ndarray]:
        """Compress uint8 digits [N, 28, 28] or [28, 28]: one stream per digit, and each digit's ideal bits."""
        symbols = self.symbols(digits)
        return self.encode_symbols(symbols), self.ideal_bits(symbols)

    def decode(self, streams: list[bytes]) -> np.ndarray:
        """uint8 digits [N, 28, 28] from per-digit streams."""
        return self.reconstruct(self.decode_symbols(streams))

    def pack(self, symbols: np.ndarray) -> bytes:
        """An archive of codes [N, L]: one stream for all of them, so no digit pays for its own length or flush."""
        symbols = np.asarray(symbols, np.int64)
        return bitstream.pack(bytes.fromhex(self.fingerprint), len(symbols), self.coder.payload(symbols))

    def unpack(self, data: bytes, max_digits: int = bitstream.MAX_DIGITS) -> np.ndarray:
        """The codes [N, L] of an archive of at most max_digits; a BitstreamError naming the model it needs."""
        archive = bitstream.unpack(data, max_digits)
        if archive.fingerprint.hex() != self.fingerprint:
            needed = archive.fingerprint.hex()
            name = weights.find(needed)
            hint = f" ({name})" if name else " (not among the installed models)"
            raise BitstreamError(f"this archive needs model {needed}{hint}; {self.name} is {self.fingerprint}")
        coder = self.coder if archive.version == bitstream.VERSION else self.coder.legacy(archive.version)
        return coder.read_payload(archive.payload, archive.count)


def load(name_or_path: str = weights.DEFAULT_MODEL, device: str = "cpu", dtype: torch.dtype | None = None,
         **settings) -> Codec:
    """A Codec for a shipped or promoted model name, or a .safetensors path; `settings` are EncoderSettings fields
    (search, refine, invert...), the rest at their defaults."""
    loaded = weights.load(name_or_path)
    return Codec(loaded.model, loaded.tables, loaded.fingerprint, loaded.name, device, dtype,
                 EncoderSettings(**settings))


_CACHE: dict[str, Codec] = {}


def load_cached(name: str) -> Codec:
    """The default Codec of an installed model, loaded once per process."""
    if name not in _CACHE:
        _CACHE[name] = load(name)
    return _CACHE[name]


def decode_archive(data: bytes, max_digits: int = bitstream.MAX_DIGITS) -> tuple[Codec, np.ndarray]:
    """Decode an archive of at most max_digits with whichever installed model its fingerprint names; anything that
    stops it, the model's file included, is a BitstreamError."""
    needed = bitstream.unpack(data, max_digits).fingerprint.hex()
    name = weights.find(needed)
    if name is None:
        raise BitstreamError(f"this archive needs model {needed}, which is not installed")
    try:
        codec = load_cached(name)
    except weights.WeightsError as exc:
        raise BitstreamError(f"this archive needs model {needed} ({name}), which cannot be loaded: {exc}") from None
    return codec, codec.reconstruct(codec.unpack(data, max_digits))

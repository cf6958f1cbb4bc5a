"""Digits to bytes and back: the networks on any device, the range coder on the CPU."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from range_coder import RangeDecoder, RangeEncoder

from . import bitstream, weights
from .bitstream import BitstreamError
from .config import MAX_REFINE, PRECISION_NAMES, SEARCH
from .model import BiCAN
from .prior import CdfTables

FIXED_POINT_ROUNDS = 16  # recompression rounds that make entropy codes idempotent; 8 left 97.6 % at 18 B, 16 99.7 %
# The encoder also settles the codes that round the SEARCH (config.py) most ambiguous latents the other way (all of
# them, for a model with fewer), and keeps the fixed point nearest the input: +0.9 dB at 6 and 9 B for +0.05 B
# (docs/BENCHMARKS.md). Decoding is unchanged.
# Refinement (opt-in, up to MAX_REFINE passes) then walks from that code: each pass tries every latent one step up and
# down, settles each to its fixed point, and moves the digit to the one with the lowest squared error + rate weight *
# bits (the model's ModelConfig.rate_weight), if that beats its own code. A code that reconstructs its digit exactly
# never moves, so a decoded digit encodes to its own code.
# On the 10k test digits, entropy-07b went from 6.19 B at 21.20 dB to 5.93 B at 21.58 dB (docs/BENCHMARKS.md).

# A reconstruction within this mean squared error (uint8 levels) counts as the digit itself and is not refined: the
# same code decoded in another batch shape can differ by a level in a few bfloat16 pixels.
EXACT = 1.0
REFINE_ROWS = 512  # digits per refinement (or recognition) step, each with two candidates per latent
# Inversion (opt-in, or a model's default: ModelConfig.encoder) drops the fixed point, which cost 1.5 dB at 16 B.
# It inverts the decoder on the digit (INVERT_STEPS of Adam on the latents from the encoder's output), rounds, and
# refines the plain code or that one, whichever scores lower, without settling. The same inversion recognizes a
# decoded digit's code, or one of its neighbours. Many codes decode to nearly the same image, so a code's decoding
# may be recognized as another code that decodes as close: the encoder then moves to that code and checks again, up
# to RECOGNIZE_ROUNDS times (entropy-12b at rate weight 2: 14 %, 2.4 % and 0.4 % of codes moved, for 0.2 dB;
# docs/BENCHMARKS.md).
# A code still moving is replaced by the fixed-point code, so every code stays idempotent.
INVERT_STEPS = 100
INVERT_LR = 0.1
RECOGNIZE_ROUNDS = 8
BATCH = 1024  # rows per network call
STEP = 4096  # digits per encoder step (and progress report); the fixed point's later rounds run fewer rows
# range-coder reads and writes files only; a RAM-backed directory makes that cost about 20 us per digit.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
STREAM_SLACK_BITS = 64  # what a range-coder stream may hold beyond its codes' information: the flush, and rounding


PRECISIONS = dict(zip(PRECISION_NAMES, (None, torch.float32, torch.bfloat16), strict=True))  # None: compute_dtype's choice


def compute_dtype(device: str | torch.device) -> torch.dtype:
    """bfloat16 on a CPU that computes it natively (AMX or AVX512-BF16), where it runs the networks 2.2 to 3.6 times
    faster than float32 at the same PSNR to 0.01 dB (docs/BENCHMARKS.md); float32 elsewhere. The codes stay
    bit-exact either way: the networks only choose them, and the range coder writes them."""
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    return torch.bfloat16 if torch.device(device).type == "cpu" and native else torch.float32


class Codec:
    """One model's encoder and decoder, bound to the model's fingerprint."""

    def __init__(self, model: BiCAN, tables: CdfTables | None, fingerprint: str, name: str = "model",
                 device: str | torch.device = "cpu", search: int | None = None, dtype: torch.dtype | None = None,
                 refine: int = 0, invert: bool | None = None):
        search = min(SEARCH, model.cfg.latents) if search is None else search
        if not 0 <= search <= model.cfg.latents:
            raise ValueError(f"search must be 0 to {model.cfg.latents} (the latent count), not {search}")
        if not 0 <= refine <= MAX_REFINE:
            raise ValueError(f"refine must be 0 to {MAX_REFINE} passes, not {refine}")
        self.dtype = dtype or compute_dtype(device)
        self.device = torch.device(device)
        # On the CPU, oneDNN runs these convolutions 1.2 to 2 times faster in channels-last layout. The codec works
        # on a copy, so that a model still in training keeps its own dtype and layout.
        layout = torch.channels_last if self.device.type == "cpu" else torch.preserve_format
        self.model = copy.deepcopy(model).eval().to(self.device, self.dtype, memory_format=layout).requires_grad_(False)
        self.tables = tables
        self.fingerprint = fingerprint
        self.name = name
        self.latents = model.cfg.latents
        # The seed is the reference row: it keeps its plain one-pass 8-bit code.
        self.rounds = FIXED_POINT_ROUNDS if tables is not None else 0
        self.search = search if tables is not None else 0
        self.refine = refine if tables is not None else 0
        self.invert = (model.cfg.encoder == "invert" if invert is None else invert) and tables is not None
        # Each latent's symbol range: the prior's table, or one byte for the seed's fixed-length code.
        self.low, self.high = ((np.zeros(self.latents, np.int64), np.full(self.latents, 255, np.int64))
                               if tables is None else (tables.low, tables.high))
        self._low = torch.tensor(self.low, dtype=torch.float32, device=self.device)
        self._high = torch.tensor(self.high, dtype=torch.float32, device=self.device)
        if tables is not None:  # the coder's tables as Python lists, made once: [component][latent]
            self._cdfs = [[row[: n + 1].tolist() for row, n in zip(rows, tables.sizes)] for rows in tables.cdf]
            self._mix = tables.mix.tolist()

    # --- the networks -------------------------------------------------------------------------
    @torch.no_grad()
    def symbols(self, digits: np.ndarray, progress: Callable[[int], object] | None = None) -> np.ndarray:
        """Integer code symbols [N, L] for uint8 digits, iterated to a recompression fixed point.

        `progress`, if given, is called with the number of digits done after each batch.
        """
        digits = check_digits(digits)
        out = []
        for i in range(0, len(digits), STEP):
            step = torch.from_numpy(digits[i:i + STEP]).to(self.device)
            out.append(self._inverted(step) if self.invert else self._fixed_point(step))
            if progress is not None:
                progress(len(out[-1]))
        return torch.cat(out).cpu().numpy() if out else np.zeros((0, self.latents), np.int64)

    @torch.no_grad()
    def reconstruct(self, symbols: np.ndarray) -> np.ndarray:
        """uint8 digits [N, 28, 28] from integer symbols [N, L]."""
        if not len(symbols):
            return np.zeros((0, 28, 28), np.uint8)
        return self._decode_net(torch.from_numpy(np.asarray(symbols, np.int64)).to(self.device)).cpu().numpy()

    def _batched(self, net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """net over the rows of x, BATCH at a time. The last batch is padded (by repeating rows) to a power of two:
        oneDNN builds kernels for each new batch shape, and the fixed point's shrinking rounds would otherwise ask
        for dozens of shapes. (A floor of 64 rows made the studio's one-digit encoding twice as slow.)"""
        out = []
        for chunk in x.split(BATCH):
            size = min(BATCH, 1 << (len(chunk) - 1).bit_length())
            out.append(net(chunk[torch.arange(size, device=chunk.device) % len(chunk)])[:len(chunk)])
        return torch.cat(out)

    def _latents(self, digits: torch.Tensor) -> torch.Tensor:
        return self._batched(lambda d: self.model.compressor(self.model.to_native(d).to(self.dtype)).float(), digits)

    def _encode_net(self, digits: torch.Tensor) -> torch.Tensor:
        return self._quantize(self._latents(digits))

    def _quantize(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.quantize(latent, "symbols", self._low, self._high)

    def _decode_net(self, symbols: torch.Tensor) -> torch.Tensor:
        return self._batched(lambda y: self.model.to_uint8(self.model.decompressor(y.to(self.dtype))), symbols)

    def _fixed_point(self, digits: torch.Tensor) -> torch.Tensor:
        """Each digit's idempotent code: among the fixed points reached from its candidate codes, the one whose
        reconstruction is nearest the digit, preferring codes that settled. The plain code comes first and wins
        ties, so a decoded digit, whose plain code is already its fixed point, encodes to the same code again.
        Refinement never moves a code that reconstructs its digit (see EXACT), so it keeps that property."""
        starts = self._candidates(self._latents(digits))
        n, count = len(digits), len(starts)
        codes, images, settled = self._settle(torch.cat(starts))
        if count == 1 and not self.refine:
            return codes
        error = self._error(images, digits, count)
        error = torch.where(settled, error, torch.inf).view(count, n)
        best = error.argmin(0)  # torch returns the first of equal minima
        rows = torch.arange(n, device=codes.device)
        codes, error = codes.view(count, n, -1)[best, rows], error[best, rows]
        return self._refined(digits, codes, error, self._settle) if self.refine else codes

    def _inverted(self, digits: torch.Tensor) -> torch.Tensor:
        """Each digit's code by inversion, moved until its decoding is recognized as itself (see RECOGNIZE_ROUNDS),
        or else its fixed-point code."""
        codes = self._direct(digits)
        unsure = torch.arange(len(codes), device=codes.device)
        for _ in range(RECOGNIZE_ROUNDS):
            again = self._direct(self._decode_net(codes[unsure]))
            moved = (again != codes[unsure]).any(dim=1)
            unsure = unsure[moved]
            codes[unsure] = again[moved]
            if not len(unsure):
                break
        if len(unsure):
            codes[unsure] = self._fixed_point(digits[unsure])
        return codes

    def _direct(self, digits: torch.Tensor) -> torch.Tensor:
        """A decoded digit's own code: the plain code, or failing that the rounded inversion, where either reconstructs
        the digit. Any other digit's plain code or rounded inversion, refined over codes that need not be fixed
        points."""
        codes = self._encode_net(digits)
        error = self._error(self._decode_net(codes), digits, 1)
        rest = torch.nonzero(error >= EXACT).flatten()
        if len(rest):
            rows = torch.cat([self._latents(digits[rest]), digits[rest].flatten(1).float()], 1)
            inverted = self._quantize(self._batched(self._descended_latents, rows))
            nearest = [self._nearest(digits[rest[i:i + REFINE_ROWS]], inverted[i:i + REFINE_ROWS])
                       for i in range(0, len(rest), REFINE_ROWS)]
            candidate, distance = (torch.cat(parts) for parts in zip(*nearest))
            found = distance < EXACT
            codes[rest[found]] = candidate[found]
            rest, candidate, distance = rest[~found], candidate[~found], distance[~found]
            if len(rest):
                # The inversion reconstructs closer than the plain code, at more bits.
                weight = self.model.cfg.rate_weight
                closer = distance + weight * self._bits(candidate) < error[rest] + weight * self._bits(codes[rest])
                codes[rest] = self._refined(digits[rest], torch.where(closer[:, None], candidate, codes[rest]),
                                            torch.where(closer, distance, error[rest]), self._decoded)
        return codes

    def _nearest(self, digits: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per digit, the code nearest it among `codes` and their neighbours (an inversion can round one latent the
        wrong way), and that code's squared error."""
        candidates = torch.cat([codes[None], self._neighbours(codes)])
        images = self._decode_net(candidates.view(-1, self.latents))
        error, choice = self._error(images, digits, len(candidates)).view(len(candidates), -1).min(0)
        return candidates[choice, torch.arange(len(codes), device=codes.device)], error

    def _descended_latents(self, rows: torch.Tensor) -> torch.Tensor:
        """Latents [N, L] that minimize the decoder's squared error, from rows [N, L + 784] of encoder latents and
        their digit's pixels (one tensor, so _batched pads both alike). Rows are independent: Adam is elementwise."""
        latent, target = rows[:, :self.latents].clone(), self.model.to_native(rows[:, self.latents:].view(-1, 28, 28))
        latent.requires_grad_(True)
        optimizer = torch.optim.Adam([latent], lr=INVERT_LR)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.05 ** (1 / INVERT_STEPS))  # to 5 %: settle, then round
        with torch.enable_grad():
            for _ in range(INVERT_STEPS):
                loss = (self.model.decompressor(latent.to(self.dtype)).float() - target.float()).square().sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                decay.step()
        return latent.detach()

    def _decoded(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """_settle's contract without the fixed point: the codes as given, their reconstructions, all accepted."""
        return y, self._decode_net(y), torch.ones(len(y), dtype=torch.bool, device=y.device)

    @staticmethod
    def _error(images: torch.Tensor, digits: torch.Tensor, count: int) -> torch.Tensor:
        """Mean squared error [count * N] of `count` reconstructions per digit, candidate-major."""
        return (images.float() - digits.float().repeat(count, 1, 1)).square().mean((1, 2))

    def _refined(self, digits: torch.Tensor, codes: torch.Tensor, error: torch.Tensor,
                 settle: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Coordinate descent, REFINE_ROWS digits at a time, over the codes `settle` maps candidates to."""
        return torch.cat([self._refined_rows(digits[i:i + REFINE_ROWS], codes[i:i + REFINE_ROWS],
                                             error[i:i + REFINE_ROWS], settle) for i in range(0, len(codes), REFINE_ROWS)])

    def _refined_rows(self, digits, codes, error, settle) -> torch.Tensor:
        """Up to `refine` passes (see MAX_REFINE). A candidate that reconstructs the digit wins outright and ends its
        descent. A digit that did not move has the same neighbours next pass, so only digits that moved are tried
        again."""
        codes = codes.clone()
        score = error + self.model.cfg.rate_weight * self._bits(codes)
        active = torch.nonzero(error >= EXACT).flatten()
        for _ in range(self.refine):
            if not len(active):
                break
            starts = self._neighbours(codes[active])
            found, images, settled = settle(starts.reshape(-1, self.latents))
            distance = self._error(images, digits[active], len(starts))
            candidate = torch.where(distance < EXACT, -torch.inf,
                                    distance + self.model.cfg.rate_weight * self._bits(found))
            best, choice = torch.where(settled, candidate, torch.inf).view(len(starts), -1).min(0)
            moved = best < score[active]
            rows = torch.arange(len(active), device=codes.device)
            codes[active[moved]] = found.view(len(starts), len(active), -1)[choice, rows][moved]
            score[active[moved]] = best[moved]
            active = active[moved & (best > -torch.inf)]
        return codes

    def _neighbours(self, codes: torch.Tensor) -> torch.Tensor:
        """[2L, N, L]: each code with one latent one step up, then the same one step down, clamped to the tables."""
        steps = torch.eye(self.latents, dtype=codes.dtype, device=codes.device).repeat_interleave(2, 0)
        steps[1::2] *= -1
        return torch.maximum(torch.minimum(codes[None] + steps[:, None], self._high.to(codes.dtype)),
                             self._low.to(codes.dtype))

    def _bits(self, codes: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.ideal_bits(codes.cpu().numpy())).to(codes.device, torch.float32)

    def _candidates(self, latent: torch.Tensor) -> list[torch.Tensor]:
        """The plain code, then for each of the `search` latents nearest a rounding boundary, that one rounded the
        other way."""
        plain = self._quantize(latent)
        rows = torch.arange(len(latent), device=latent.device)
        ambiguous = (latent - latent.round()).abs().argsort(dim=1, descending=True)[:, :self.search]
        out = [plain]
        for i in ambiguous.T:
            other = plain.clone()
            step = torch.where(latent[rows, i] > plain[rows, i], 1, -1)
            other[rows, i] = (plain[rows, i] + step).clamp(self._low[i].long(), self._high[i].long())
            out.append(other)
        return out

    def _settle(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Iterate y <- round(C(D(y))) up to `rounds` times, re-running only the rows that still move (most settle
        in a round or two). Returns the codes, their reconstructions (for a row that never settled, that of its
        previous code), and which codes are fixed points."""
        y = y.clone()
        images = torch.empty(len(y), 28, 28, dtype=torch.uint8, device=y.device)
        active = torch.arange(len(y), device=y.device)
        for _ in range(self.rounds):
            images[active] = self._decode_net(y[active])
            again = self._encode_net(images[active])
            moved = (again != y[active]).any(dim=1)
            active = active[moved]
            y[active] = again[moved]
            if not len(active):
                break
        settled = torch.ones(len(y), dtype=torch.bool, device=y.device)
        settled[active] = False
        return y, images, settled

    # --- entropy coding -----------------------------------------------------------------------
    def ideal_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Cross-entropy of each row of symbols under the coder's tables, in bits."""
        if self.tables is None:
            return np.full(len(symbols), 8.0 * self.latents)
        return self.tables.bits(np.asarray(symbols, np.int64))

    def encode_symbols(self, symbols: np.ndarray) -> list[bytes]:
        """One stream per row of symbols [N, L]: each digit on its own, as the studio shows it."""
        symbols = np.asarray(symbols, np.int64)
        # Each digit's component, chosen for all rows at once: per row, this was a quarter of the encoding time.
        components = self.tables.components(symbols) if self.tables is not None else None
        with _scratch() as path:
            return [self._stream(symbols[i:i + 1], path, None if components is None else components[i:i + 1])
                    for i in range(len(symbols))]

    def decode_symbols(self, streams: list[bytes]) -> np.ndarray:
        """Integer symbols [N, L] from per-digit streams; raises BitstreamError for a stream this model did not write."""
        with _scratch() as path:
            rows = [self._symbols(bytes(stream), 1, path) for stream in streams]
        return np.concatenate(rows) if rows else np.zeros((0, self.latents), np.int64)

    def _stream(self, symbols: np.ndarray, path: str, components: np.ndarray | None = None) -> bytes:
        """Codes [N, L] as one stream: the seed's raw bytes, digit after digit; or one range-coder stream holding
        each digit's prior component (by default the one that codes it best), then the latents column by column
        (every digit's first latent, then every digit's second...), each column grouped by component. The coder
        takes a group in one call. For one digit this is simply its component, then its latents."""
        if self.tables is None:
            return symbols.astype(np.uint8).tobytes()
        components = self.tables.components(symbols) if components is None else components
        order, groups = _groups(components)
        enc = RangeEncoder(path)
        enc.encode(components.tolist(), self._mix)
        for i, column in enumerate((symbols[order] - self.tables.low).T.tolist()):
            for k, start, end in groups:
                enc.encode(column[start:end], self._cdfs[k][i])
        enc.close()
        stream = Path(path).read_bytes()
        # The coder's flush writes bytes that the decoder may not need (it reads past the end the same way on every
        # machine). A one-digit stream drops them while the rest still decodes to the same code: 0.19 B per digit.
        # Longer streams (archives) keep them: a trimmed stream would also read as more codes than it holds, and the
        # flush is what makes a wrong digit count fail the check in _symbols.
        while len(symbols) == 1 and len(stream) > 1 and self._decodes_to(stream[:-1], components, symbols, path):
            stream = stream[:-1]
        return stream

    def _decodes_to(self, stream: bytes, components: np.ndarray, symbols: np.ndarray, path: str) -> bool:
        got_components, got = self._decode_range(stream, len(symbols), path)
        return np.array_equal(got_components, components) and np.array_equal(got, symbols)

    def _decode_range(self, stream: bytes, count: int, path: str) -> tuple[np.ndarray, np.ndarray]:
        """The components [count] and codes [count, L] a range-coder stream reads as, checked or not."""
        Path(path).write_bytes(stream)
        dec = RangeDecoder(path)
        components = np.array(dec.decode(count, self._mix), np.int64)
        order, groups = _groups(components)
        columns = [[symbol for k, start, end in groups for symbol in dec.decode(end - start, self._cdfs[k][i])]
                   for i in range(self.latents)]
        dec.close()
        symbols = np.empty((count, self.latents), np.int64)
        symbols[order] = np.array(columns, np.int64).reshape(self.latents, count).T + self.tables.low
        return components, symbols

    def _symbols(self, stream: bytes, count: int, path: str) -> np.ndarray:
        """The `count` codes [count, L] of a stream that _stream wrote; anything else is a BitstreamError."""
        if self.tables is None:
            if len(stream) != count * self.latents:
                raise BitstreamError(f"{len(stream)} bytes cannot hold {count} code(s): model {self.name} writes "
                                     f"exactly {self.latents} bytes per digit")
            return np.frombuffer(stream, np.uint8).reshape(count, self.latents).astype(np.int64)
        if not stream:
            raise BitstreamError(f"empty stream; model {self.name} never writes one")
        if count * self.tables.min_bits > 8 * len(stream) + STREAM_SLACK_BITS:
            raise BitstreamError(f"{len(stream)} bytes cannot hold {count} codes of model {self.name}")
        components, symbols = self._decode_range(stream, count, path)
        # The coder accepts any bytes; a stream is ours only if re-encoding gives it back exactly. It is re-encoded
        # with the components it names: which one codes a digit best is a float comparison that another machine
        # may break differently in a near-tie, and the stream must still decode there.
        if self._stream(symbols, path, components) != stream:
            raise BitstreamError(f"stream is corrupt, or was written by a model other than {self.name} "
                                 f"({self.fingerprint})")
        return symbols

    # --- whole digits and archives ------------------------------------------------------------
    def encode(self, digits: np.ndarray) -> tuple[list[bytes], np.ndarray]:
        """Compress uint8 digits.

        Args:
            digits: uint8 [N, 28, 28] or [28, 28].

        Returns:
            One stream per digit, and each digit's ideal information content in bits.
        """
        symbols = self.symbols(digits)
        return self.encode_symbols(symbols), self.ideal_bits(symbols)

    def decode(self, streams: list[bytes]) -> np.ndarray:
        """uint8 digits [N, 28, 28] from per-digit streams."""
        return self.reconstruct(self.decode_symbols(streams))

    def pack(self, symbols: np.ndarray) -> bytes:
        """An archive of codes [N, L]: one stream for all of them, so no digit pays for its own length or flush."""
        symbols = np.asarray(symbols, np.int64)
        with _scratch() as path:
            return bitstream.pack(bytes.fromhex(self.fingerprint), len(symbols), self._stream(symbols, path))

    def unpack(self, data: bytes, max_digits: int = bitstream.MAX_DIGITS) -> np.ndarray:
        """The codes [N, L] of an archive of at most max_digits; raises BitstreamError naming the model it needs."""
        archive = bitstream.unpack(data, max_digits)
        if archive.fingerprint.hex() != self.fingerprint:
            needed = archive.fingerprint.hex()
            name = weights.find(needed)
            hint = f" ({name})" if name else " (not among the installed models)"
            raise BitstreamError(f"this archive needs model {needed}{hint}; {self.name} is {self.fingerprint}")
        with _scratch() as path:
            return self._symbols(archive.payload, archive.count, path)


def _groups(components: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The digits in component order (stable), and each component's (index, start, end) in that order."""
    order = np.argsort(components, kind="stable")
    present, counts = np.unique(components, return_counts=True)
    ends = np.cumsum(counts)
    return order, [(int(k), int(end - n), int(end)) for k, n, end in zip(present, counts, ends)]


@contextmanager
def _scratch() -> Iterator[str]:
    """A file path for range-coder, which reads and writes files only."""
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        yield os.path.join(tmp, "s")


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


_CACHE: dict[str, Codec] = {}


def load(name_or_path: str = weights.DEFAULT_MODEL, device: str = "cpu", search: int | None = None,
         dtype: torch.dtype | None = None, refine: int = 0, invert: bool | None = None) -> Codec:
    """A Codec for a shipped or promoted model name, or a .safetensors path; `invert` None is the model's own
    default encoder (ModelConfig.encoder)."""
    loaded = weights.load(name_or_path)
    return Codec(loaded.model, loaded.tables, loaded.fingerprint, loaded.name, device, search, dtype, refine, invert)


def load_cached(name: str) -> Codec:
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

"""Codes to bytes and back: a table coder for the entropy family, a byte coder for the seed's fixed-length code."""

from __future__ import annotations

import constriction
import numpy as np

from ..bitstream import BitstreamError
from ..prior import PRECISION, CdfTables
from .settings import PLAIN, EncoderSettings

# constriction is one native module: its submodules are attributes, not importable by name.
Categorical = constriction.stream.model.Categorical
RangeDecoder, RangeEncoder = constriction.stream.queue.RangeDecoder, constriction.stream.queue.RangeEncoder
STREAM_SLACK_BITS = 64  # what a stream may hold beyond its codes' information: the coder's seal, two 32-bit words
WORD = ">u4"  # the coder's 32-bit words, most significant byte first, so that a stream's tail is its least significant


class ByteCoder:
    """The seed's code: one byte per latent, digit after digit."""

    def __init__(self, latents: int, name: str):
        self.latents, self.name = latents, name
        self.low, self.high = np.zeros(latents, np.int64), np.full(latents, 255, np.int64)

    def settings(self, settings: EncoderSettings) -> EncoderSettings:
        """The seed is the reference row: it keeps its plain one-pass 8-bit code, whatever the settings."""
        return PLAIN

    def legacy(self, version: int) -> ByteCoder:
        """Every archive version stored the seed's bytes alike."""
        return self

    def ideal_bits(self, symbols: np.ndarray) -> np.ndarray:
        return np.full(len(symbols), 8.0 * self.latents)

    def streams(self, symbols: np.ndarray) -> list[bytes]:
        return [self.payload(row[None]) for row in np.asarray(symbols)]

    def read_streams(self, streams: list[bytes]) -> np.ndarray:
        rows = [self.read_payload(bytes(stream), 1) for stream in streams]
        return np.concatenate(rows) if rows else np.zeros((0, self.latents), np.int64)

    def payload(self, symbols: np.ndarray) -> bytes:
        return np.asarray(symbols).astype(np.uint8).tobytes()

    def read_payload(self, payload: bytes, count: int) -> np.ndarray:
        if len(payload) != count * self.latents:
            raise BitstreamError(f"{len(payload)} bytes cannot hold {count} code(s): model {self.name} writes "
                                 f"exactly {self.latents} bytes per digit")
        return np.frombuffer(payload, np.uint8).reshape(count, self.latents).astype(np.int64)


class TableCoder:
    """Range coding (constriction's, 32-bit words) under a model's integer CDF tables. A payload holds each digit's
    prior component (by default the one that codes it best), then the latents column by column (every digit's first
    latent, then every digit's second...), each column grouped by component; the coder takes a group in one call. A
    one-digit payload is simply its component, then its latents."""

    def __init__(self, tables: CdfTables, name: str, fingerprint: str):
        self.tables, self.name, self.fingerprint = tables, name, fingerprint
        self.latents, self.low, self.high = len(tables.low), tables.low, tables.high
        self._mix = exact_model(tables.mix)
        self._models = [[exact_model(row[: n + 1]) for row, n in zip(rows, tables.sizes)] for rows in tables.cdf]

    def settings(self, settings: EncoderSettings) -> EncoderSettings:
        return settings

    def legacy(self, version: int) -> TableCoder:
        """The coder of an older archive version: version 3 was range-coder's."""
        from .legacy import RangeCoder

        return RangeCoder(self.tables, self.name, self.fingerprint)

    def ideal_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Cross-entropy of each row of symbols under the tables, in bits."""
        return self.tables.bits(np.asarray(symbols, np.int64))

    def streams(self, symbols: np.ndarray) -> list[bytes]:
        """One stream per row of symbols [N, L]: each digit on its own, as the studio shows it."""
        symbols = np.asarray(symbols, np.int64)
        # Each digit's component, chosen for all rows at once: per row, this was a quarter of the encoding time.
        components = self.tables.components(symbols)
        return [self._write(symbols[i:i + 1], components[i:i + 1]) for i in range(len(symbols))]

    def read_streams(self, streams: list[bytes]) -> np.ndarray:
        """Integer symbols [N, L] from per-digit streams; a BitstreamError for a stream this model did not write."""
        rows = [self._read(bytes(stream), 1) for stream in streams]
        return np.concatenate(rows) if rows else np.zeros((0, self.latents), np.int64)

    def payload(self, symbols: np.ndarray) -> bytes:
        """Codes [N, L] as one stream, so no digit pays for its own length or seal."""
        return self._write(np.asarray(symbols, np.int64))

    def read_payload(self, payload: bytes, count: int) -> np.ndarray:
        return self._read(payload, count)

    def _write(self, symbols: np.ndarray, components: np.ndarray | None = None) -> bytes:
        """A stream of codes [N, L]. One digit's is the shortest that decodes to the same code (see _shortest);
        longer ones (archives) keep the coder's seal: a shorter one would also read as more codes than it holds,
        and the seal is what makes a wrong digit count fail the check in _read."""
        components = self.tables.components(symbols) if components is None else components
        order, groups = _groups(components)
        enc = RangeEncoder()
        if self._mix is not None:
            enc.encode(components.astype(np.int32), self._mix)
        for i, column in enumerate((symbols[order] - self.low).T.astype(np.int32)):
            for k, start, end in groups:
                if self._models[k][i] is not None:
                    enc.encode(column[start:end], self._models[k][i])
        stream = enc.get_compressed().astype(WORD).tobytes()
        return self._shortest(stream, components, symbols) if len(symbols) == 1 else stream

    def _shortest(self, stream: bytes, components: np.ndarray, symbols: np.ndarray) -> bytes:
        """The shortest stream that still decodes to this one code. The decoder reads zeros past a stream's end, so
        each length n offers two candidates: the first n bytes, just below the sealed value, and those plus one in
        their last byte, just above it (the seal points near the low end of the code's interval, where a cut prefix
        falls out of it)."""
        for n in range(len(stream)):
            head = stream[:n]
            above = int.from_bytes(head, "big") + 1
            for candidate in (head, above.to_bytes(n, "big") if n and above < 1 << 8 * n else None):
                if candidate is not None and self._reads_as(candidate, int(components[0]), symbols[0]):
                    return candidate
        return stream

    def _reads_as(self, stream: bytes, component: int, code: np.ndarray) -> bool:
        """Whether a stream decodes to this one digit's component and code, stopping at the first symbol that
        differs: most of the short candidates _shortest tries fail at once."""
        dec = RangeDecoder(_words(stream))
        try:
            if self._mix is not None and dec.decode(self._mix) != component:
                return False
            return all(model is None or dec.decode(model) == symbol
                       for model, symbol in zip(self._models[component], (code - self.low).tolist()))
        except AssertionError:  # constriction's word for data its model cannot have written
            return False

    def _decode(self, stream: bytes, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The components [count] and codes [count, L] a stream reads as, checked or not."""
        dec = RangeDecoder(_words(stream))
        columns = np.zeros((self.latents, count), np.int64)
        try:
            components = np.zeros(count, np.int64) if self._mix is None else dec.decode(self._mix, count)
            order, groups = _groups(np.asarray(components, np.int64))
            for i in range(self.latents):
                for k, start, end in groups:
                    if self._models[k][i] is not None:
                        columns[i, start:end] = dec.decode(self._models[k][i], end - start)
        except AssertionError as exc:
            raise BitstreamError(f"stream is corrupt, or was written by a model other than {self.name} "
                                 f"({self.fingerprint})") from exc
        symbols = np.empty((count, self.latents), np.int64)
        symbols[order] = columns.T + self.low
        return np.asarray(components, np.int64), symbols

    def _read(self, stream: bytes, count: int) -> np.ndarray:
        """The `count` codes [count, L] of a stream that _write wrote; anything else is a BitstreamError."""
        if not stream and count:
            raise BitstreamError(f"empty stream; model {self.name} never writes one")
        if count * self.tables.min_bits > 8 * len(stream) + STREAM_SLACK_BITS:
            raise BitstreamError(f"{len(stream)} bytes cannot hold {count} codes of model {self.name}")
        components, symbols = self._decode(stream, count)
        # The coder accepts most bytes; a stream is ours only if re-encoding gives it back exactly. It is re-encoded
        # with the components it names: which one codes a digit best is a float comparison that another machine
        # may break differently in a near-tie, and the stream must still decode there.
        if self._write(symbols, components) != stream:
            raise BitstreamError(f"stream is corrupt, or was written by a model other than {self.name} "
                                 f"({self.fingerprint})")
        return symbols


def exact_model(cdf: np.ndarray) -> Categorical | None:
    """constriction's model of one integer CDF table [S+1] (total 2**PRECISION), exactly: None for a table of one
    symbol, which costs nothing and is not coded.

    constriction quantizes float probabilities p to its 24-bit fixed point as cdf'[i] = floor(P[i] * (2**24 - S) /
    sum(p)) + i, with P the running sum of p (constriction's fast_quantized_cdf). Given p = 256 * freq - 1, every
    P[i] = 256 * cdf[i] - i and sum(p) = 2**24 - S are integers below 2**53, so the sums and the quotient (exactly 1)
    are exact in float64 on every IEEE machine, and cdf'[i] = 256 * cdf[i]: our tables, bit for bit."""
    freq = np.diff(np.asarray(cdf, np.int64))
    if len(freq) < 2:
        return None
    return Categorical((freq * (1 << (24 - PRECISION)) - 1).astype(np.float64), perfect=False)


def _words(stream: bytes) -> np.ndarray:
    """The coder's 32-bit words of a stream, its last one padded with zeros."""
    return np.frombuffer(stream + bytes(-len(stream) % 4), WORD).astype(np.uint32)


def make_coder(tables: CdfTables | None, latents: int, name: str, fingerprint: str) -> ByteCoder | TableCoder:
    """The coder of a model: its tables', or the seed's bytes where it has none."""
    return ByteCoder(latents, name) if tables is None else TableCoder(tables, name, fingerprint)


def _groups(components: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The digits in component order (stable), and each component's (index, start, end) in that order."""
    order = np.argsort(components, kind="stable")
    present, counts = np.unique(components, return_counts=True)
    ends = np.cumsum(counts)
    return order, [(int(k), int(end - n), int(end)) for k, n, end in zip(present, counts, ends)]

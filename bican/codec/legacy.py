"""Archive format version 3: range-coder's streams. Reading them needs the optional range-coder package, which
publishes wheels for Linux x86-64 only (CPython 3.11 and 3.12)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..bitstream import BitstreamError
from ..prior import CdfTables
from .coder import _groups

try:
    from range_coder import RangeDecoder, RangeEncoder
except ImportError:  # only version 3 archives need it
    RangeDecoder = RangeEncoder = None

INSTALL = "pip install 'range-coder==1.1' (or pip install 'bican[legacy]')"
# range-coder reads and writes files only; a RAM-backed directory makes that cost about 20 us per digit.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
STREAM_SLACK_BITS = 64  # what a range-coder stream may hold beyond its codes' information: the flush, and rounding


class RangeCoder:
    """range-coder's coding under a model's integer CDF tables, as archive format version 3 stored it: each digit's
    prior component, then the latents column by column, each column grouped by component (as TableCoder)."""

    def __init__(self, tables: CdfTables, name: str, fingerprint: str):
        if RangeEncoder is None:
            raise BitstreamError(f"this archive is .bican format version 3, written with range-coder; to read it, "
                                 f"{INSTALL}")
        self.tables, self.name, self.fingerprint = tables, name, fingerprint
        self.latents, self.low, self.high = len(tables.low), tables.low, tables.high
        # The coder's tables as Python lists, made once: [component][latent]
        self._cdfs = [[row[: n + 1].tolist() for row, n in zip(rows, tables.sizes)] for rows in tables.cdf]
        self._mix = tables.mix.tolist()

    def ideal_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Cross-entropy of each row of symbols under the tables, in bits."""
        return self.tables.bits(np.asarray(symbols, np.int64))

    def streams(self, symbols: np.ndarray) -> list[bytes]:
        """One stream per row of symbols [N, L]: each digit on its own, as the studio shows it."""
        symbols = np.asarray(symbols, np.int64)
        # Each digit's component, chosen for all rows at once: per row, this was a quarter of the encoding time.
        components = self.tables.components(symbols)
        with _scratch() as path:
            return [self._write(symbols[i:i + 1], path, components[i:i + 1]) for i in range(len(symbols))]

    def read_streams(self, streams: list[bytes]) -> np.ndarray:
        """Integer symbols [N, L] from per-digit streams; a BitstreamError for a stream this model did not write."""
        with _scratch() as path:
            rows = [self._read(bytes(stream), 1, path) for stream in streams]
        return np.concatenate(rows) if rows else np.zeros((0, self.latents), np.int64)

    def payload(self, symbols: np.ndarray) -> bytes:
        """Codes [N, L] as one stream, so no digit pays for its own length or flush."""
        with _scratch() as path:
            return self._write(np.asarray(symbols, np.int64), path)

    def read_payload(self, payload: bytes, count: int) -> np.ndarray:
        with _scratch() as path:
            return self._read(payload, count, path)

    def _write(self, symbols: np.ndarray, path: str, components: np.ndarray | None = None) -> bytes:
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
        # flush is what makes a wrong digit count fail the check in _read.
        while len(symbols) == 1 and len(stream) > 1 and self._decodes_to(stream[:-1], components, symbols, path):
            stream = stream[:-1]
        return stream

    def _decodes_to(self, stream: bytes, components: np.ndarray, symbols: np.ndarray, path: str) -> bool:
        got_components, got = self._decode(stream, len(symbols), path)
        return np.array_equal(got_components, components) and np.array_equal(got, symbols)

    def _decode(self, stream: bytes, count: int, path: str) -> tuple[np.ndarray, np.ndarray]:
        """The components [count] and codes [count, L] a stream reads as, checked or not."""
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

    def _read(self, stream: bytes, count: int, path: str) -> np.ndarray:
        """The `count` codes [count, L] of a stream that _write wrote; anything else is a BitstreamError."""
        if not stream:
            raise BitstreamError(f"empty stream; model {self.name} never writes one")
        if count * self.tables.min_bits > 8 * len(stream) + STREAM_SLACK_BITS:
            raise BitstreamError(f"{len(stream)} bytes cannot hold {count} codes of model {self.name}")
        components, symbols = self._decode(stream, count, path)
        # The coder accepts any bytes; a stream is ours only if re-encoding gives it back exactly. It is re-encoded
        # with the components it names: which one codes a digit best is a float comparison that another machine
        # may break differently in a near-tie, and the stream must still decode there.
        if self._write(symbols, path, components) != stream:
            raise BitstreamError(f"stream is corrupt, or was written by a model other than {self.name} "
                                 f"({self.fingerprint})")
        return symbols



@contextmanager
def _scratch() -> Iterator[str]:
    """A file path for range-coder, which reads and writes files only."""
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        yield os.path.join(tmp, "s")

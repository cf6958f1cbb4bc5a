"""The entropy coder against the legacy range coder, on the same codes: stream and archive bytes, and speed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import codec, data, weights
from .codec.coder import TableCoder
from .codec.legacy import RangeCoder

COLUMNS = ["model", "digits", "ideal B", "range-coder B", "constriction B", "stream Δ B", "range-coder archive",
           "constriction archive", "archive Δ %", "range-coder enc/s", "constriction enc/s", "range-coder dec/s",
           "constriction dec/s"]


def model_codes(name: str, limit: int | None, cache: Path | None) -> np.ndarray:
    """The model's codes for the first `limit` test digits with its default encoder, kept in `cache` if given (an
    inverting model takes minutes for the test set)."""
    path = cache / f"{name}-{weights.load(name).fingerprint}.npy" if cache else None
    if path and path.exists():
        symbols = np.load(path)
    else:
        symbols = codec.load(name).symbols(data.load("test").images)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, symbols)
    return symbols[:limit]


def _rate(work: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def compare(name: str, symbols: np.ndarray, timed: int = 1000) -> dict:
    """Both coders on a model's codes [N, L]: mean per-digit stream bytes and archive payload bytes over all of
    them; per-digit encode and decode rates (digits/s, decoding with its check) over the first `timed`."""
    loaded = weights.load(name)
    row = {"model": name, "digits": len(symbols), "ideal B": float(loaded.tables.bits(symbols).mean() / 8)}
    for label, kind in (("range-coder", RangeCoder), ("constriction", TableCoder)):
        coder = kind(loaded.tables, name, loaded.fingerprint)
        streams = coder.streams(symbols)
        payload = coder.payload(symbols)
        if not np.array_equal(coder.read_payload(payload, len(symbols)), symbols):
            raise AssertionError(f"{label} did not read back its archive of {name}")
        row[f"{label} B"] = float(np.mean([len(s) for s in streams]))
        row[f"{label} archive"] = len(payload)
        row[f"{label} enc/s"] = _rate(lambda: coder.streams(symbols[:timed]), len(symbols[:timed]))  # noqa: B023
        row[f"{label} dec/s"] = _rate(lambda: coder.read_streams(streams[:timed]), len(streams[:timed]))  # noqa: B023
    row["stream Δ B"] = row["constriction B"] - row["range-coder B"]
    row["archive Δ %"] = 100 * (row["constriction archive"] / row["range-coder archive"] - 1)
    return row


def markdown(rows: list[dict]) -> str:
    """The rows as a markdown table (bytes to 3 decimals, rates to whole digits/s)."""
    def cell(key: str, value) -> str:
        if isinstance(value, float):
            return f"{value:+.3f}" if "Δ" in key else f"{value:,.0f}" if "/s" in key else f"{value:.3f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(k, row[k]) for k in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def entropy_models() -> list[str]:
    """The installed models that entropy-code (all but the seed's family)."""
    return [name for name in weights.available() if weights.load(name).tables is not None]

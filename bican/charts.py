"""The rate–distortion chart as a plotly figure spec (plain JSON), without importing plotly: the studio and tools/ draw it."""

from __future__ import annotations

import math

COLORS = {"BiCAN": "#d62728", "BiCAN seed": "#ff9896", "JPEG": "#1f77b4", "WebP": "#2ca02c", "PNG": "#9467bd",
          "gzip": "#8c564b", "xz": "#7f7f7f"}
SLOWER = "#990000"  # every slower encoder setting of BiCAN (bench --refine N, --invert): "BiCAN --refine" and so on


def color(codec: str) -> str:
    return SLOWER if codec.startswith("BiCAN --") else COLORS.get(codec, "black")


def series(rows: list[dict]) -> tuple[dict[str, list[dict]], float]:
    """Rows grouped by codec; lossless rows get a PSNR just above the best lossy one, so they show."""
    lossy = [r["psnr_db"] for r in rows if r["psnr_db"] is not None and math.isfinite(r["psnr_db"])]
    ceiling = (max(lossy) if lossy else 40.0) + 3
    groups: dict[str, list[dict]] = {}
    for r in rows:
        y = r["psnr_db"] if r["psnr_db"] is not None and math.isfinite(r["psnr_db"]) else ceiling
        groups.setdefault(r["codec"], []).append({**r, "y": y})
    for points in groups.values():
        points.sort(key=lambda p: p["bytes_per_digit"])
    return groups, ceiling


def rd_figure(rows: list[dict], lossless: bool = True) -> dict:
    """A plotly figure spec (plain JSON): bytes/digit on a log axis against PSNR.

    Args:
        rows: bench's rate_distortion rows.
        lossless: also draw the lossless codecs, on a line above the best lossy point.
    """
    if not lossless:
        rows = [r for r in rows if r["psnr_db"] is not None]
    groups, ceiling = series(rows)
    traces = [{"type": "scatter", "mode": "lines+markers", "name": codec,
               "x": [p["bytes_per_digit"] for p in points], "y": [p["y"] for p in points],
               "text": [p["setting"] for p in points], "line": {"color": color(codec)},
               "hovertemplate": "%{text}<br>%{x:.2f} B/digit, %{y:.2f} dB<extra>" + codec + "</extra>"}
              for codec, points in groups.items()]
    # Titles as {"text": ...}: plotly.js 3 reads no plain-string titles.
    layout = {"title": {"text": "MNIST test set: bytes per digit against PSNR (28x28)"},
              "xaxis": {"title": {"text": "bytes per digit (actual, headers counted)"}, "type": "log"},
              "yaxis": {"title": {"text": "PSNR (dB)"}}, "template": "plotly_white", "legend": {"title": {"text": "codec"}},
              "annotations": [{"x": 1, "xref": "paper", "y": ceiling, "text": "lossless", "showarrow": False}]
              if lossless else []}
    return {"data": traces, "layout": layout}

"""The rate–distortion chart as a standalone plotly HTML page and a PNG, without importing plotly."""

from __future__ import annotations

import json
import math
from pathlib import Path

from PIL import Image, ImageDraw

PLOTLY_JS = "https://cdn.plot.ly/plotly-2.35.2.min.js"
COLORS = {"BiCAN": "#d62728", "BiCAN seed": "#ff9896", "JPEG": "#1f77b4", "WebP": "#2ca02c", "PNG": "#9467bd",
          "gzip": "#8c564b", "xz": "#7f7f7f"}
SLOWER = "#990000"  # every slower encoder setting of BiCAN (bench --refine N, --invert): "BiCAN --refine" and so on


def _color(codec: str) -> str:
    return SLOWER if codec.startswith("BiCAN --") else COLORS.get(codec, "black")


def _series(rows: list[dict]) -> tuple[dict[str, list[dict]], float]:
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
    groups, ceiling = _series(rows)
    traces = [{"type": "scatter", "mode": "lines+markers", "name": codec,
               "x": [p["bytes_per_digit"] for p in points], "y": [p["y"] for p in points],
               "text": [p["setting"] for p in points], "line": {"color": _color(codec)},
               "hovertemplate": "%{text}<br>%{x:.2f} B/digit, %{y:.2f} dB<extra>" + codec + "</extra>"}
              for codec, points in groups.items()]
    layout = {"title": "MNIST test set: bytes per digit against PSNR (28x28)",
              "xaxis": {"title": "bytes per digit (actual, headers counted)", "type": "log"},
              "yaxis": {"title": "PSNR (dB)"}, "template": "plotly_white", "legend": {"title": {"text": "codec"}},
              "annotations": [{"x": 1, "xref": "paper", "y": ceiling, "text": "lossless", "showarrow": False}]
              if lossless else []}
    return {"data": traces, "layout": layout}


def rd_html(rows: list[dict]) -> str:
    spec = json.dumps(rd_figure(rows))
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>bican rate–distortion</title>'
            f'<script src="{PLOTLY_JS}"></script></head><body><div id="rd" style="height:90vh"></div>'
            f'<script>const f = {spec}; Plotly.newPlot("rd", f.data, f.layout);</script></body></html>\n')


def rd_png(rows: list[dict], path: Path, size: tuple[int, int] = (900, 560)) -> None:
    """The same chart drawn with Pillow, for places that show no JavaScript."""
    groups, _ = _series(rows)
    points = [p for ps in groups.values() for p in ps]
    sizes = [math.log10(p["bytes_per_digit"]) for p in points]
    x_lo, x_hi = min(sizes) - 0.1, max(sizes) + 0.1
    y_lo, y_hi = min(p["y"] for p in points) - 1, max(p["y"] for p in points) + 1
    w, h, m = size[0], size[1], 60
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)

    def x_at(size_bytes: float) -> float:
        return m + (math.log10(size_bytes) - x_lo) / (x_hi - x_lo) * (w - 2 * m - 80)

    def y_at(db: float) -> float:
        return h - m - (db - y_lo) / (y_hi - y_lo) * (h - 2 * m)

    draw.rectangle([m, m, w - m - 80, h - m], outline="black")
    for decade in range(math.ceil(x_lo), math.floor(x_hi) + 1):
        draw.text((x_at(10**decade) - 10, h - m + 8), f"{10**decade:g} B", fill="black")
    for db in range(math.ceil(y_lo), math.floor(y_hi) + 1, 5):
        draw.text((10, y_at(db) - 6), f"{db} dB", fill="black")
    for i, (codec, ps) in enumerate(groups.items()):
        color = _color(codec)
        xy = [(x_at(p["bytes_per_digit"]), y_at(p["y"])) for p in ps]
        if len(xy) > 1:
            draw.line(xy, fill=color, width=2)
        for x, y in xy:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        draw.text((w - m - 70, m + 16 * i), codec, fill=color)
    draw.text((m, 20), "MNIST test set: bytes/digit (log) against PSNR; lossless codecs on the top line", fill="black")
    img.save(path)

"""The rate–distortion chart for docs/: an HTML page that renders offline, and a PNG for places that show no JavaScript."""

from __future__ import annotations

import math
from pathlib import Path

import plotly.graph_objects as go
from PIL import Image, ImageDraw
from plotly.offline import get_plotlyjs

from bican.charts import color as chart_color
from bican.charts import rd_figure, series

PLOTLY_JS = "plotly.min.js"  # written beside the page, so it renders with no network and stays one small file per run


def write_rd_html(rows: list[dict], path: Path) -> None:
    """The interactive chart as `path`, with plotly.js (the installed plotly's own) written beside it."""
    (path.parent / PLOTLY_JS).write_text(get_plotlyjs())
    go.Figure(rd_figure(rows)).write_html(path, include_plotlyjs="directory", full_html=True,
                                          default_height="90vh")


def rd_png(rows: list[dict], path: Path, size: tuple[int, int] = (900, 560)) -> None:
    """The same chart drawn with Pillow, for places that show no JavaScript."""
    groups, _ = series(rows)
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
        color = chart_color(codec)
        xy = [(x_at(p["bytes_per_digit"]), y_at(p["y"])) for p in ps]
        if len(xy) > 1:
            draw.line(xy, fill=color, width=2)
        for x, y in xy:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        draw.text((w - m - 70, m + 16 * i), codec, fill=color)
    draw.text((m, 20), "MNIST test set: bytes/digit (log) against PSNR; lossless codecs on the top line", fill="black")
    img.save(path)

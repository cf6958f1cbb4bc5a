"""The benchmark page's views: a headline computed from the results, the labelled chart, and readable tables."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

import bican
from bican import charts

LOSSY = {"codec": "Codec", "setting": "Setting", "bytes_per_digit": "Bytes per digit", "psnr_db": "PSNR (dB)",
         "ssim": "SSIM", "classifier_accuracy": "Classifier accuracy", "idempotent_fraction": "Recompresses"}


def _lowest(rows: list[dict], codec: str) -> dict | None:
    """A codec's smallest lossy point."""
    points = [r for r in rows if r["codec"] == codec and r["psnr_db"] is not None]
    return min(points, key=lambda r: r["bytes_per_digit"], default=None)


def headline(rows: list[dict]) -> str:
    """One sentence of conclusion: the default model's point against WebP's and JPEG's smallest files."""
    ours = next((r for r in rows if r["codec"].startswith("BiCAN") and r["setting"] == bican.DEFAULT_MODEL), None)
    if ours is None:
        return "These results hold no row for the default model."
    size = ours["bytes_per_digit"]
    parts = [f"{ours['setting']} stores a digit in {size:.1f} B at {ours['psnr_db']:.1f} dB"]
    webp, jpeg = _lowest(rows, "WebP"), _lowest(rows, "JPEG")
    if webp:
        parts.append(f"WebP needs {webp['bytes_per_digit']:,.0f} B at its lowest quality ({webp['psnr_db']:.1f} dB), "
                     f"{webp['bytes_per_digit'] / size:.0f} times as much")
    if jpeg:
        parts.append("JPEG never gets that small: its smallest file is "
                     f"{jpeg['bytes_per_digit']:,.0f} B" if jpeg["bytes_per_digit"] > size
                     else f"JPEG reaches {jpeg['bytes_per_digit']:,.0f} B")
    return "; ".join(parts) + "."


def rd_figure(rows: list[dict]) -> go.Figure:
    """The docs' rate–distortion chart, each of the ladder's points labelled with its model; the page lists the
    lossless codecs in a table instead."""
    figure = go.Figure(charts.rd_figure(rows, lossless=False))
    figure.update_traces(selector=lambda trace: trace.name.startswith("BiCAN"), mode="lines+markers+text",
                         textposition="top left", cliponaxis=False)
    figure.update_layout(title=None, margin={"t": 30}, height=480)
    return figure


def _number(value, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def lossy_table(rows: list[dict]) -> list[dict]:
    return [{LOSSY["codec"]: r["codec"], LOSSY["setting"]: r["setting"],
             LOSSY["bytes_per_digit"]: _number(r["bytes_per_digit"], 1), LOSSY["psnr_db"]: _number(r["psnr_db"], 1),
             LOSSY["ssim"]: _number(r.get("ssim"), 3),
             LOSSY["classifier_accuracy"]: "" if r.get("classifier_accuracy") is None
             else f"{r['classifier_accuracy']:.1%}",
             LOSSY["idempotent_fraction"]: "" if r.get("idempotent_fraction") is None
             else f"{r['idempotent_fraction']:.0%}"}
            for r in rows if r["psnr_db"] is not None]


def show_bench(result: dict) -> None:
    rows = result.get("rate_distortion", [])
    st.subheader(headline(rows))
    st.caption(f"Measured on {result.get('machine', 'an unnamed machine')}, {result.get('date', 'undated')}, over "
               f"{result.get('n', 'the')} MNIST test digits. Bytes per digit are actual bytes, each file's headers "
               "counted. Classifier accuracy: how often a separately trained MNIST classifier still reads the right "
               "digit in the reconstruction. Recompresses: share of reconstructions that encode to the same stream.")
    st.plotly_chart(rd_figure(rows), width="stretch")
    st.subheader("Lossy codecs")
    st.dataframe(lossy_table(rows), hide_index=True)
    lossless = [{"Codec": r["codec"], "Setting": r["setting"], "Bytes per digit": _number(r["bytes_per_digit"], 1)}
                for r in rows if r["psnr_db"] is None]
    if lossless:
        st.subheader("Lossless")
        st.dataframe(lossless, hide_index=True)
    st.subheader("The seed's file sizes")
    st.dataframe([{"Representation": r["representation"], "Format": r["format"], "Bytes": f"{r['bytes']:,}"}
                  for r in result.get("file_sizes", [])], hide_index=True)
    if result.get("throughput"):
        st.subheader("Throughput")
        st.dataframe([{"What": r["what"], "Digits per second": f"{r['digits_per_s']:,.0f}"}
                      for r in result["throughput"]], hide_index=True)

"""Watch a run learn: each epoch's reconstructions of fixed test digits (and of the digit drawn on Compress), the
finished run's point beside the shipped ladder, and "Promote and try". Helpers of the Runs and Benchmark pages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from bican import charts, runs, samples

SCALE = 3  # 28 px digits shown at 84 px, so that strokes are readable
DRAWN_KEY = "drawn_digit"  # the Compress page keeps the last digit drawn there (uint8 28x28) under this key
BENCH_JSON = Path(__file__).resolve().parent.parent / "docs" / "bench.json"


def follow_drawn(reg: runs.Registry, run: runs.Run) -> None:
    """Hand the digit last drawn on Compress to a training run, which adds it to its next epochs' samples."""
    digit = st.session_state.get(DRAWN_KEY)
    if digit is None:
        st.caption("Draw a digit on the Compress page, and a training run shows it here too from its next epoch.")
    elif run.status in runs.ACTIVE:
        samples.set_drawn(reg.run_dir(run.id), digit)


def show_samples(reg: runs.Registry, run: runs.Run) -> None:
    """One epoch's originals above their reconstructions, with each digit's bytes; the newest epoch unless chosen."""
    run_dir = reg.run_dir(run.id)
    done = samples.epochs(run_dir)
    if not done:
        st.caption("Reconstructions appear here after the first epoch.")
        return
    epoch = done[-1] if len(done) == 1 else st.select_slider("Samples after epoch", done, value=done[-1],
                                                             key=f"samples-epoch-{run.id}-{len(done)}")
    shown = _samples(str(run_dir), epoch)
    with st.container(key="learning-samples"):
        st.image([_pair(d, r) for d, r in zip(shown["digits"], shown["recon"])], width=28 * SCALE,
                 caption=[f"{name}: {size} B" for name, size in zip(shown["names"], shown["bytes"])])
    st.caption(f"Epoch {epoch}: each digit above, its reconstruction from the bytes below it (plain encoder, as "
               "validated). The first test digit of each class stays the same through the run.")


@st.cache_data(max_entries=64, show_spinner=False)
def _samples(run_dir: str, epoch: int) -> dict:
    return samples.load(Path(run_dir), epoch)


def _pair(digit: np.ndarray, recon: np.ndarray) -> np.ndarray:
    return np.kron(np.concatenate([digit, recon]), np.ones((SCALE, SCALE), np.uint8))


def test_point(events: list[dict]) -> dict | None:
    """The finished run's measured point (the "test" event), if it has one."""
    return next((e for e in reversed(events) if e["type"] == "test"), None)


def show_point(run: runs.Run, events: list[dict]) -> None:
    """The finished run beside the shipped ladder on the rate–distortion chart."""
    point = test_point(events)
    if point is None:
        if run.status == "done":
            st.caption("This run finished without a measured point (it ran before runs measured one).")
        return
    figure = go.Figure(charts.rd_figure(_ladder(), lossless=False))
    figure.add_scatter(x=[point["bytes_per_digit"]], y=[point["psnr_db"]], mode="markers", name=f"run {run.id}",
                       marker={"size": 16, "symbol": "star", "color": "#ff7f0e"})
    figure.update_layout(title=None, margin={"t": 30}, height=420)
    st.plotly_chart(figure, key=f"rd-{run.id}")
    st.caption(f"This run: {point['psnr_db']:.2f} dB at {point['bytes_per_digit']:.2f} B/digit with the shipped "
               f"encoder, on the first {point['digits']:,} test digits (the ladder: all 10,000).")


@st.cache_data(ttl=60, show_spinner=False)
def _ladder() -> list[dict]:
    path = Path(os.environ.get("BICAN_BENCH_JSON", BENCH_JSON))
    try:
        return json.loads(path.read_text())["rate_distortion"]
    except (OSError, ValueError, KeyError):
        return []


def rerun_when_finished(run: runs.Run) -> None:
    """Rerun the whole page once when the watched run ends, so that everything outside the live view (the table,
    "Promote and try") shows the end too, however briefly the run lasted between two refreshes."""
    key = f"learning-status-{run.id}"
    before, st.session_state[key] = st.session_state.get(key), run.status
    if before in runs.ACTIVE and run.status not in runs.ACTIVE:
        st.rerun(scope="app")


def promote_and_try(reg: runs.Registry, run_id: str) -> None:
    """For a finished run with a measured model: promote it and open Compress with it selected."""
    try:
        run = reg.get(run_id)
    except runs.RunError:
        return
    if run.status != "done" or run.promoted or test_point(runs.read_events(reg.run_dir(run_id) / "events.jsonl")) is None:
        return
    name_box, button = st.columns([3, 1], vertical_alignment="bottom")
    name = name_box.text_input("Name for the model", value=f"mine-{run.id[-6:]}", key=f"try-name-{run.id}")
    if button.button("Promote and try", key="promote-and-try", type="primary"):
        try:
            reg.promote(run.id, name)  # the registry refuses names a shipped, promoted or reserved model uses
        except (runs.RunError, OSError) as exc:
            st.error(str(exc))
            return
        st.session_state["model"] = name  # the Compress page's model selector
        st.switch_page("pages/compress.py")


def promoted_rows(reg: runs.Registry) -> list[dict]:
    """Promoted models as rate–distortion rows, from their runs' measured points, for the Benchmark chart."""
    rows = []
    for run in reg.runs():
        point = test_point(runs.read_events(reg.run_dir(run.id) / "events.jsonl")) if run.promoted else None
        if point is not None:
            rows.append({"codec": "promoted", "setting": run.promoted, "bytes_per_digit": point["bytes_per_digit"],
                         "psnr_db": point["psnr_db"], "ideal_bytes_per_digit": point.get("ideal_bytes_per_digit"),
                         "ssim": point.get("ssim"), "idempotent_fraction": point.get("idempotent_fraction")})
    return rows


def registry() -> runs.Registry:
    return runs.Registry()

"""The drawing canvas alone, free of bican and torch, so a page can show it before the heavy imports finish."""

from __future__ import annotations

import numpy as np
import streamlit as st

SIZE = 280  # pixels; 10x the digit


def draw() -> np.ndarray | None:
    """A 280x280 canvas, white brush on black; its RGBA pixels once something is drawn (None before)."""
    from streamlit_drawable_canvas import st_canvas

    st.space("small")  # the canvas's toolbar floats above it; keep it off the widgets there
    result = st_canvas(stroke_width=20, stroke_color="#ffffff", background_color="#000000", height=SIZE, width=SIZE,
                       return_image_data=True, key="canvas")
    return result.image_data


def choose_source() -> str:
    return st.radio("Input", ["Draw", "Pick", "Upload"], horizontal=True, key="source")
